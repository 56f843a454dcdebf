//! Source URIs of `[[stream]] uri`: parsed once into a typed `SourceSpec`.
//!
//! `file:///abs/path`, `file:relative/path` or a bare path (relative to the config file);
//! `rtsp://[user[:password]@]host[:port]/path`; `test://[pattern]?width=&height=&fps=`;
//! `v4l2:///dev/videoN`; `csi://N` (Jetson, nvarguscamerasrc).
//!
//! Credentials: the user and password of an RTSP URI are percent-decoded (RFC 3986) and kept
//! apart from the address, which goes to GStreamer without them. Nothing that prints a source
//! prints them: a parsed source prints through `SourceSpec::redacted`, source text as written
//! (valid or not, in `check` or in an error message) through `redact`, and text a library wrote
//! about a source through `SourceSpec::scrub`.

use std::borrow::Cow;
use std::fmt;
use std::path::{Path, PathBuf};

/// What every printed form of a source shows where its credentials were.
pub const MASK: &str = "********";

/// RTSP lower transport: how RTP reaches edgesight.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Transport {
    /// TCP first (interleaved in the RTSP connection), UDP when the server refuses it, within
    /// one connection attempt; the one that worked is tried first on the stream's reconnects
    /// (`capture::rtsp`).
    Auto,
    Tcp,
    Udp,
}

impl Transport {
    /// The configuration's spelling, and rtspsrc's `protocols` value for a forced transport.
    pub fn name(self) -> &'static str {
        match self {
            Transport::Auto => "auto",
            Transport::Tcp => "tcp",
            Transport::Udp => "udp",
        }
    }

    /// As logs and `check` print it.
    pub fn label(self) -> &'static str {
        match self {
            Transport::Auto => "auto",
            Transport::Tcp => "TCP",
            Transport::Udp => "UDP",
        }
    }
}

/// A parsed source. It has no `Display`: `redacted()` is its one printable form, and `Debug`
/// prints that too (configurations are `Debug`).
#[derive(Clone, PartialEq)]
pub enum SourceSpec {
    File {
        path: PathBuf,
    },
    /// `url` never holds credentials; `user` and `password` are decoded (or taken as written from
    /// the `user` and `password` keys) and reach rtspsrc as properties only.
    Rtsp {
        url: String,
        user: Option<String>,
        password: Option<String>,
    },
    Test {
        pattern: String,
        width: u32,
        height: u32,
        fps: u32,
    },
    V4l2 {
        device: PathBuf,
    },
    Csi {
        sensor_id: u32,
    },
}

impl fmt::Debug for SourceSpec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.redacted())
    }
}

/// Length of `scheme:` at the start of `text`, when it starts with a scheme (two characters or
/// more, so that `C:\x` stays a path).
fn scheme_len(text: &str) -> Option<usize> {
    let (scheme, _) = text.split_once(':')?;
    let ok = scheme.len() > 1 && scheme.chars().all(|c| c.is_ascii_alphanumeric() || c == '+' || c == '-' || c == '.');
    ok.then_some(scheme.len() + 1)
}

/// The printable form of a source as written (a `uri` value, valid or not): everything between
/// the scheme and the last `@` is shown as `********`. That is the user and password, and also
/// whatever a password with an unencoded `/`, `?` or `#` spread over: where a malformed
/// password ends cannot be known, so the mask errs on the side of hiding a path. Text without `@`
/// holds no credentials and is returned as it is.
pub fn redact(text: &str) -> Cow<'_, str> {
    // After `scheme:` and its slashes; from the start for text without a scheme.
    let start = scheme_len(text).map_or(0, |n| text.len() - text[n..].trim_start_matches('/').len());
    match text[start..].rfind('@') {
        Some(at) if at > 0 => Cow::Owned(format!("{}{MASK}{}", &text[..start], &text[start + at..])),
        _ => Cow::Borrowed(text),
    }
}

/// `text` with every character outside RFC 3986's unreserved set percent-encoded.
pub fn percent_encode(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for b in text.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// Why a user or password of a URI cannot be decoded (the text itself is never quoted).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DecodeError {
    /// A `%` not followed by two hexadecimal digits.
    Escape,
    /// The decoded bytes are not UTF-8.
    Utf8,
}

/// RFC 3986 percent-decoding: `%HH` is the byte HH; everything else stands for itself.
pub fn percent_decode(text: &str) -> Result<String, DecodeError> {
    fn hex(b: u8) -> Option<u8> {
        (b as char).to_digit(16).map(|d| d as u8)
    }
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hi = bytes.get(i + 1).copied().and_then(hex);
            let lo = bytes.get(i + 2).copied().and_then(hex);
            let (Some(hi), Some(lo)) = (hi, lo) else {
                return Err(DecodeError::Escape);
            };
            out.push(hi << 4 | lo);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).map_err(|_| DecodeError::Utf8)
}

impl SourceSpec {
    /// The one printable form of a source: an RTSP source with credentials shows
    /// `rtsp://********@host/path`.
    pub fn redacted(&self) -> String {
        match self {
            SourceSpec::File { path } => format!("file://{}", path.display()),
            SourceSpec::Rtsp { url, user, password } => {
                let url = redact(url);
                match (user, password, url.split_once("://")) {
                    (None, None, _) | (_, _, None) => url.into_owned(),
                    (_, _, Some((scheme, rest))) => format!("{scheme}://{MASK}@{rest}"),
                }
            }
            SourceSpec::Test { pattern, width, height, fps } => {
                format!("test://{pattern}?width={width}&height={height}&fps={fps}")
            }
            SourceSpec::V4l2 { device } => format!("v4l2://{}", device.display()),
            SourceSpec::Csi { sensor_id } => format!("csi://{sensor_id}"),
        }
    }

    /// Text that a library wrote about this source (a GStreamer error or warning) with the
    /// password masked wherever it appears, as written or percent-encoded. rtspsrc never gets
    /// the password in its location, so this is a second line of defence, not the first. (A
    /// password of a letter or two garbles the message rather than being shown in it.)
    pub fn scrub(&self, text: &str) -> String {
        let SourceSpec::Rtsp { password: Some(pw), .. } = self else { return text.to_string() };
        if pw.is_empty() {
            return text.to_string();
        }
        text.replace(pw.as_str(), MASK).replace(&percent_encode(pw), MASK)
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

/// A user or password of an RTSP URI, decoded; empty means absent.
fn credential(part: &str, what: &str, uri: &str) -> Result<Option<String>, String> {
    match percent_decode(part) {
        Ok(s) if s.is_empty() => Ok(None),
        Ok(s) => Ok(Some(s)),
        Err(DecodeError::Escape) => Err(format!(
            "RTSP URI {}: the {what} has a malformed percent-escape: % must be followed by two hex digits \
             (write a literal % as %25)",
            redact(uri)
        )),
        Err(DecodeError::Utf8) => Err(format!(
            "RTSP URI {}: the {what} decodes to bytes that are not UTF-8; percent-encode its UTF-8 bytes",
            redact(uri)
        )),
    }
}

fn rtsp(uri: &str, scheme: &str, rest: &str) -> Result<SourceSpec, String> {
    let Some(after) = rest.strip_prefix("//") else {
        return Err(format!("RTSP URI {} must look like rtsp://[user:password@]host[:port]/path", redact(uri)));
    };
    let (authority, path) = after.split_at(after.find('/').unwrap_or(after.len()));
    // An @ after the host is a password with an unencoded / in it (or a path no camera uses):
    // reading it as a path would send the rest of the password to the network and the logs.
    if path.contains('@') {
        return Err(format!(
            "RTSP URI {} has an @ after the host; percent-encode / ? # @ : % in a password \
             (%2F %3F %23 %40 %3A %25) or give it with the password key",
            redact(uri)
        ));
    }
    let (userinfo, host) = match authority.rsplit_once('@') {
        Some((u, h)) => (Some(u), h),
        None => (None, authority),
    };
    if host.is_empty() || host.starts_with(':') {
        return Err(format!("RTSP URI {} has no host", redact(uri)));
    }
    // The port is not quoted: in `rtsp://user:password` (no @host) it would be the password.
    if let Some((_, port)) = host.rsplit_once(':')
        && !host.ends_with(']')
        && port.parse::<u16>().is_err()
    {
        return Err(
            "RTSP URI port is not a number in 0..=65535 (the form is rtsp://[user:password@]host[:port]/path)".into()
        );
    }
    // The user ends at the first ':' (a user cannot hold one unencoded); the password may.
    let (user, password) = match userinfo {
        None => (None, None),
        Some(u) => match u.split_once(':') {
            Some((n, p)) => (credential(n, "user", uri)?, credential(p, "password", uri)?),
            None => (credential(u, "user", uri)?, None),
        },
    };
    Ok(SourceSpec::Rtsp { url: format!("{scheme}://{host}{path}"), user, password })
}

impl SourceSpec {
    /// Parses a stream URI; relative file paths are taken from `base`. Error messages quote the
    /// URI only through `redact`.
    pub fn parse(uri: &str, base: &Path) -> Result<SourceSpec, String> {
        let uri = uri.trim();
        if uri.is_empty() {
            return Err("empty uri".into());
        }
        let Some(n) = scheme_len(uri) else {
            return Ok(SourceSpec::File { path: base.join(uri) });
        };
        let (scheme, rest) = (&uri[..n - 1], &uri[n..]);
        match scheme.to_ascii_lowercase().as_str() {
            "file" => {
                let path = if let Some(p) = rest.strip_prefix("//") {
                    let p = p.strip_prefix("localhost").unwrap_or(p);
                    if !p.starts_with('/') {
                        return Err(format!(
                            "file URI {:?} needs an absolute path (file:///path) or file:relative/path",
                            redact(uri)
                        ));
                    }
                    PathBuf::from(p)
                } else {
                    base.join(rest)
                };
                Ok(SourceSpec::File { path })
            }
            "rtsp" | "rtsps" => rtsp(uri, scheme, rest),
            "test" => {
                // A test pattern has no credentials: an @ means user:password@ went into the wrong
                // URI, and no part of it is quoted.
                if rest.contains('@') {
                    return Err(format!(
                        "test URI {:?} holds an @; expected test://[pattern]?width=&height=&fps=",
                        redact(uri)
                    ));
                }
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
                    return Err(format!("v4l2 URI {:?} must name a device: v4l2:///dev/video0", redact(uri)));
                }
                Ok(SourceSpec::V4l2 { device: PathBuf::from(dev) })
            }
            "csi" => {
                let id = rest.strip_prefix("//").unwrap_or(rest);
                let sensor_id = id
                    .parse::<u32>()
                    .map_err(|_| format!("csi URI {:?} must give a sensor number: csi://0", redact(uri)))?;
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
        assert_eq!(s.redacted(), "rtsp://********@10.0.0.5:554/stream1");
        assert!(!format!("{} {s:?}", s.redacted()).contains("s3cret"));
        assert!(p("rtsp://").is_err());
        assert!(p("rtsp://host:99999/x").is_err());
        assert!(p("rtsp:host").is_err());
    }

    #[test]
    fn rtsp_credentials_are_percent_decoded() {
        let s = p("rtsp://us%65r:p%40ss%3Aw%2Frd%25@cam/s").unwrap();
        assert_eq!(
            s,
            SourceSpec::Rtsp {
                url: "rtsp://cam/s".into(),
                user: Some("user".into()),
                password: Some("p@ss:w/rd%".into())
            }
        );
        // Unencoded @ and : in a password still work (the last @ ends it, the first : starts it).
        let s = p("rtsp://u:a@b:c@cam/s").unwrap();
        assert!(matches!(s, SourceSpec::Rtsp { password: Some(ref pw), .. } if pw == "a@b:c"));
        // Empty parts are absent.
        assert!(matches!(p("rtsp://:pw@cam/s").unwrap(), SourceSpec::Rtsp { user: None, .. }));
        assert!(matches!(p("rtsp://u:@cam/s").unwrap(), SourceSpec::Rtsp { password: None, .. }));
        assert_eq!(percent_decode("%e2%82%AC"), Ok("€".into()));
        for bad in ["%", "%4", "%4g", "%+1", "a%zz"] {
            assert_eq!(percent_decode(bad), Err(DecodeError::Escape), "{bad}");
        }
        assert_eq!(percent_decode("%ff"), Err(DecodeError::Utf8));
        assert_eq!(percent_decode(&percent_encode("p@ss:w/rd% ü")), Ok("p@ss:w/rd% ü".into()));
    }

    #[test]
    fn uri_errors_never_quote_a_password() {
        for uri in [
            "rtsp://u:s3cret%zz@cam/s",
            "rtsp://u:s3cret%ff@cam/s",
            "rtsp://u:s3/cret@cam/s",
            "rtsp://u:s3cret@",
            "rtsp://u:s3cret@:554/s",
            "rtsp:u:s3cret@cam/s",
            "rtsp:/u:s3cret@cam/s",
            "rtsp://u:s3cret",
            "file://u:s3cret@cam/s",
            "test://u:s3cret@ball",
            "test://ball?width=u:s3cret@x",
            "v4l2://u:s3cret@cam",
            "csi://u:s3cret@0",
        ] {
            let e = p(uri).unwrap_err();
            assert!(!e.contains("s3") && !e.contains("cret"), "{uri}: {e}");
        }
        let e = p("rtsp://u:s3cret%zz@cam/s").unwrap_err();
        assert_eq!(
            e,
            "RTSP URI rtsp://********@cam/s: the password has a malformed percent-escape: % must be followed by \
             two hex digits (write a literal % as %25)"
        );
    }

    #[test]
    fn redact_masks_everything_up_to_the_last_at() {
        assert_eq!(redact("rtsp://u:pw@cam/s"), "rtsp://********@cam/s");
        assert_eq!(redact("rtsp://u:p/w@cam/s@x"), "rtsp://********@x");
        assert_eq!(redact("rtsp:u:pw@cam"), "rtsp:********@cam");
        assert_eq!(redact("u:pw@cam"), "********@cam");
        assert_eq!(redact("rtsp://cam/s"), "rtsp://cam/s");
        assert_eq!(redact("rtsp://@cam/s"), "rtsp://@cam/s");
        let s = SourceSpec::Rtsp { url: "rtsp://cam/s".into(), user: None, password: Some("p@ss w".into()) };
        assert_eq!(s.redacted(), "rtsp://********@cam/s");
        assert_eq!(s.scrub("401 for p@ss w (p%40ss%20w)"), "401 for ******** (********)");
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
