//! Source URIs of `[[stream]] uri`: parsed once into a typed `SourceSpec`.
//!
//! `file:///abs/path`, `file:relative/path` or a bare path (relative to the config file);
//! `rtsp://[user:pass@]host[:port]/path`; `test://[pattern]?width=&height=&fps=`;
//! `v4l2:///dev/videoN`; `csi://N` (Jetson, nvarguscamerasrc).

use std::fmt;
use std::path::{Path, PathBuf};

/// RTSP lower transport.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Transport {
    Tcp,
    Udp,
}

#[derive(Clone, PartialEq)]
pub enum SourceSpec {
    File { path: PathBuf },
    Rtsp { url: String, user: Option<String>, password: Option<String> },
    Test { pattern: String, width: u32, height: u32, fps: u32 },
    V4l2 { device: PathBuf },
    Csi { sensor_id: u32 },
}

/// Debug and Display never show RTSP credentials (they end up in logs).
impl fmt::Debug for SourceSpec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

impl fmt::Display for SourceSpec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SourceSpec::File { path } => write!(f, "file://{}", path.display()),
            SourceSpec::Rtsp { url, user, .. } => match user {
                Some(_) => write!(f, "{url} (with credentials)"),
                None => f.write_str(url),
            },
            SourceSpec::Test { pattern, width, height, fps } => {
                write!(f, "test://{pattern}?width={width}&height={height}&fps={fps}")
            }
            SourceSpec::V4l2 { device } => write!(f, "v4l2://{}", device.display()),
            SourceSpec::Csi { sensor_id } => write!(f, "csi://{sensor_id}"),
        }
    }
}

/// videotestsrc patterns accepted in `test://PATTERN`.
pub const TEST_PATTERNS: &[&str] = &["smpte", "ball", "snow", "black", "white", "gradient", "pinwheel", "circular"];

fn query_u32(query: &str, key: &str, default: u32, max: u32) -> Result<u32, String> {
    for pair in query.split('&').filter(|p| !p.is_empty()) {
        let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
        if k == key {
            return match v.parse::<u32>() {
                Ok(n) if n >= 1 && n <= max => Ok(n),
                _ => Err(format!("{key}={v} is not a whole number in 1..={max}")),
            };
        }
    }
    Ok(default)
}

impl SourceSpec {
    /// Parses a stream URI; relative file paths are taken from `base`.
    pub fn parse(uri: &str, base: &Path) -> Result<SourceSpec, String> {
        let uri = uri.trim();
        if uri.is_empty() {
            return Err("empty uri".into());
        }
        let Some((scheme, rest)) = uri.split_once(':').filter(|(s, _)| {
            s.len() > 1 && s.chars().all(|c| c.is_ascii_alphanumeric() || c == '+' || c == '-' || c == '.')
        }) else {
            return Ok(SourceSpec::File { path: base.join(uri) });
        };
        match scheme.to_ascii_lowercase().as_str() {
            "file" => {
                let path = if let Some(p) = rest.strip_prefix("//") {
                    let p = p.strip_prefix("localhost").unwrap_or(p);
                    if !p.starts_with('/') {
                        return Err(format!(
                            "file URI {uri:?} needs an absolute path (file:///path) or file:relative/path"
                        ));
                    }
                    PathBuf::from(p)
                } else {
                    base.join(rest)
                };
                Ok(SourceSpec::File { path })
            }
            "rtsp" | "rtsps" => {
                let Some(after) = rest.strip_prefix("//") else {
                    return Err(format!("RTSP URI {uri:?} must look like rtsp://host[:port]/path"));
                };
                let (authority, path) = after.split_at(after.find('/').unwrap_or(after.len()));
                let (userinfo, host) = match authority.rsplit_once('@') {
                    Some((u, h)) => (Some(u), h),
                    None => (None, authority),
                };
                if host.is_empty() || host.starts_with(':') {
                    return Err(format!("RTSP URI has no host: rtsp://…{path}"));
                }
                if let Some((_, port)) = host.rsplit_once(':')
                    && !host.ends_with(']')
                    && port.parse::<u16>().is_err()
                {
                    return Err(format!("RTSP URI port {port:?} is not a number in 0..=65535"));
                }
                let (user, password) = match userinfo {
                    None => (None, None),
                    Some(u) => match u.split_once(':') {
                        Some((n, p)) => (Some(n.to_string()), Some(p.to_string())),
                        None => (Some(u.to_string()), None),
                    },
                };
                Ok(SourceSpec::Rtsp { url: format!("{scheme}://{host}{path}"), user, password })
            }
            "test" => {
                let rest = rest.strip_prefix("//").unwrap_or(rest);
                let (pattern, query) = rest.split_once('?').unwrap_or((rest, ""));
                let pattern = if pattern.is_empty() { "smpte" } else { pattern };
                if !TEST_PATTERNS.contains(&pattern) {
                    return Err(format!(
                        "unknown test pattern {pattern:?}; expected one of {}",
                        TEST_PATTERNS.join(", ")
                    ));
                }
                Ok(SourceSpec::Test {
                    pattern: pattern.to_string(),
                    width: query_u32(query, "width", 640, 8192)?,
                    height: query_u32(query, "height", 480, 8192)?,
                    fps: query_u32(query, "fps", 15, 240)?,
                })
            }
            "v4l2" => {
                let dev = rest.strip_prefix("//").unwrap_or(rest);
                if !dev.starts_with("/dev/") {
                    return Err(format!("v4l2 URI {uri:?} must name a device: v4l2:///dev/video0"));
                }
                Ok(SourceSpec::V4l2 { device: PathBuf::from(dev) })
            }
            "csi" => {
                let id = rest.strip_prefix("//").unwrap_or(rest);
                let sensor_id =
                    id.parse::<u32>().map_err(|_| format!("csi URI {uri:?} must give a sensor number: csi://0"))?;
                Ok(SourceSpec::Csi { sensor_id })
            }
            other => Err(format!("unsupported scheme {other:?}; expected file, rtsp, test, v4l2 or csi")),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(s: &str) -> Result<SourceSpec, String> {
        SourceSpec::parse(s, Path::new("/etc/edgesight"))
    }

    #[test]
    fn files() {
        assert_eq!(p("file:///data/a.mp4").unwrap(), SourceSpec::File { path: "/data/a.mp4".into() });
        assert_eq!(p("file://localhost/data/a.mp4").unwrap(), SourceSpec::File { path: "/data/a.mp4".into() });
        assert_eq!(
            p("file:../media/a.mp4").unwrap(),
            SourceSpec::File { path: "/etc/edgesight/../media/a.mp4".into() }
        );
        assert_eq!(p("clip.mp4").unwrap(), SourceSpec::File { path: "/etc/edgesight/clip.mp4".into() });
        assert!(p("file://relative/x.mp4").is_err());
    }

    #[test]
    fn rtsp_credentials_are_split_out_and_never_displayed() {
        let s = p("rtsp://admin:s3cret@10.0.0.5:554/stream1").unwrap();
        assert_eq!(
            s,
            SourceSpec::Rtsp {
                url: "rtsp://10.0.0.5:554/stream1".into(),
                user: Some("admin".into()),
                password: Some("s3cret".into())
            }
        );
        assert!(!format!("{s} {s:?}").contains("s3cret"));
        assert!(p("rtsp://").is_err());
        assert!(p("rtsp://host:99999/x").is_err());
        assert!(p("rtsp:host").is_err());
    }

    #[test]
    fn test_pattern_and_devices() {
        assert_eq!(
            p("test://ball?width=320&fps=5").unwrap(),
            SourceSpec::Test { pattern: "ball".into(), width: 320, height: 480, fps: 5 }
        );
        assert!(p("test://nope").is_err());
        assert!(p("test://?width=0").is_err());
        assert_eq!(p("v4l2:///dev/video2").unwrap(), SourceSpec::V4l2 { device: "/dev/video2".into() });
        assert_eq!(p("csi://1").unwrap(), SourceSpec::Csi { sensor_id: 1 });
        assert!(p("csi://x").is_err());
        assert!(p("http://x").is_err());
    }
}
