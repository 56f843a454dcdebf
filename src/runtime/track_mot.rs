//! `edgesight track`: the configured tracker, and the zones and lines of one configured stream,
//! over detections in the MOTChallenge format. Tracks go out in the same format (for TrackEval);
//! zone and line events go to standard output as the JSON lines `run` writes, with `ts` the
//! frame's stream time counted from 1970-01-01 so that the same input gives the same output.

use std::io::Write;
use std::path::Path;
use std::time::{Duration, SystemTime};

use crate::config::{self, Config};
use crate::detect::Labels;
use crate::error::{Error, Result};
use crate::sink::{CountsEvent, RegionEventOut};
use crate::track::mot::{self, FrameView, Summary};
use crate::track::{TrackerKind, TrackerSettings};
use crate::zones::{Observation, Regions, StreamRegions};

pub struct TrackArgs<'a> {
    pub mot_det: &'a Path,
    pub size: (u32, u32),
    pub config: Option<&'a Path>,
    pub stream: Option<&'a str>,
    pub fps: f64,
}

/// The stream's zones and lines, run on the tracker's output, events out as JSON lines.
struct RegionsOut<'a> {
    stream: String,
    regions: StreamRegions,
    labels: Labels,
    counts_every_ms: Option<u64>,
    observed: Vec<Observation>,
    out: &'a mut dyn Write,
}

/// One event as a JSON line.
fn line(out: &mut dyn Write, v: &impl serde::Serialize) -> Result<()> {
    serde_json::to_writer(&mut *out, v)
        .map_err(std::io::Error::from)
        .and_then(|()| out.write_all(b"\n"))
        .map_err(|e| Error::output(format!("cannot write zone and line events: {e}")))
}

impl RegionsOut<'_> {
    fn frame(&mut self, v: FrameView<'_>) -> Result<()> {
        let ts = SystemTime::UNIX_EPOCH + Duration::from_millis(v.t_ms);
        if v.last {
            self.regions.end_all(v.ended);
        } else {
            self.observed.clear();
            self.observed.extend(
                v.ids.iter().zip(v.dets).filter_map(|(id, d)| {
                    id.map(|track_id| Observation { track_id, class_id: d.class_id, bbox: d.bbox })
                }),
            );
            self.regions.frame(v.t_ms, v.size.0, v.size.1, v.ended, &self.observed);
        }
        for event in self.regions.events() {
            let e = RegionEventOut {
                ts,
                stream: &self.stream,
                event,
                regions: self.regions.regions(),
                labels: &self.labels,
            };
            line(&mut *self.out, &e)?;
        }
        // Periodic counts, and always the final ones.
        if self.regions.counts_due(v.t_ms, self.counts_every_ms) || v.last {
            let c = CountsEvent { ts, stream: &self.stream, pts_ms: v.t_ms, regions: &self.regions };
            line(&mut *self.out, &c)?;
        }
        Ok(())
    }
}

/// The tracker settings, and the stream's fps limit and zones, from the configuration.
fn settings(cfg: Option<&Config>, stream: Option<&str>) -> Result<(TrackerSettings, Option<f64>, Regions, Labels)> {
    let settings = cfg.map_or_else(Default::default, |c| c.tracking.clone());
    if settings.kind == TrackerKind::None {
        return Err(Error::config(
            "tracking.tracker is \"none\" in the configuration: there is no tracker to run; use a configuration with \
             tracker = \"bytetrack\" or \"ocsort\"",
        ));
    }
    let (Some(c), Some(name)) = (cfg, stream) else {
        return Ok((settings, None, Regions::default(), Labels::from_names(["class0"])));
    };
    let Some(sc) = c.streams.iter().find(|s| s.name == name) else {
        let names: Vec<&str> = c.streams.iter().map(|s| s.name.as_str()).collect();
        return Err(Error::config(format!("--stream {name:?} is not in the configuration; its streams: {names:?}")));
    };
    // Zone and line classes name the model's labels; MOTChallenge detections are class 0.
    let mut labels = match &c.model.labels {
        Some(p) => Labels::load(p)?,
        None => Labels::from_names(["class0"]),
    };
    labels.cover(1);
    let regions = super::assemble::regions(sc, &c.model, &labels)?;
    Ok((settings, sc.fps_limit.or(c.pipeline.fps_limit), regions, labels))
}

/// Runs `edgesight track`; `tracks`: where the tracks go (standard output when None, unless the
/// stream has zones or lines: then their events take standard output and tracks need a file).
pub fn track_mot(a: &TrackArgs<'_>, tracks: Option<&Path>) -> Result<Summary> {
    let loaded = a.config.map(config::load).transpose()?;
    let cfg = loaded.as_ref().map(|l| &l.config);
    let (settings, limit, regions, labels) = settings(cfg, a.stream).map_err(|e| match &loaded {
        Some(l) => l.locate(e),
        None => e,
    })?;
    let score_threshold = cfg.map_or(config::defaults::SCORE_THRESHOLD, |c| c.model.score_threshold);
    let mut limiter = limit.map(super::streams::FpsLimiter::new);
    let mut admit = |t: f64| limiter.as_mut().is_none_or(|l| l.admit(t));
    let text = std::fs::read_to_string(a.mot_det).map_err(|e| {
        Error::source(format!("cannot read detections {}: {e}; check the --mot-det path", a.mot_det.display()))
    })?;
    let mut dets = mot::parse(&text, a.mot_det)?;
    let stdout = std::io::stdout();
    let mut events_out = stdout.lock();
    let mut zones = (!regions.lines.is_empty() || !regions.zones.is_empty()).then(|| RegionsOut {
        stream: a.stream.unwrap_or_default().to_string(),
        regions: StreamRegions::new(regions, settings.lost_s),
        labels,
        counts_every_ms: cfg.and_then(|c| c.counts_interval).map(|d| d.as_millis() as u64),
        observed: Vec::with_capacity(256),
        out: &mut events_out,
    });
    let has_zones = zones.is_some();
    let mut on_frame = |v: FrameView<'_>| zones.as_mut().map_or(Ok(()), |z| z.frame(v));
    let run = mot::MotRun {
        size: a.size,
        fps: a.fps,
        settings: &settings,
        score_threshold,
        admit: &mut admit,
        on_frame: &mut on_frame,
    };
    match tracks {
        Some(p) => {
            let f = std::fs::File::create(p)
                .map_err(|e| Error::output(format!("cannot create {}: {e}; check the --tracks path", p.display())))?;
            mot::run(&mut dets, run, &mut std::io::BufWriter::new(f))
        }
        None if has_zones => mot::run(&mut dets, run, &mut std::io::sink()),
        None => mot::run(&mut dets, run, &mut std::io::stdout()),
    }
}
