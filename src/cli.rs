//! Command line: argument parsing and dispatch. Each command is a thin call into the library;
//! errors become one line each on stderr and the exit code of DESIGN.md.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::{Parser, Subcommand};

use crate::config::{self, Config, DEFAULT_PATH, ModelConfig};
use crate::detect::Family;
use crate::error::{Error, Result};
use crate::runtime::assemble::{self, CheckOptions};
use crate::runtime::detect_files::{DetectArgs, detect_files};
use crate::runtime::pipeline;
use crate::runtime::signals::Signals;
use crate::runtime::track_mot::{TrackArgs, track_mot};
use crate::sink::{FilePolicy, JsonlSink};

fn long_version() -> String {
    let hooks =
        if cfg!(feature = "test-hooks") { "\ntest build: EDGESIGHT_TEST_* engine hooks compiled in" } else { "" };
    // Which CUDA this build loads, so a field tech can tell the JetPack 5 binary from the 6 one.
    let cuda = if cfg!(feature = "cuda-jp5") {
        "cpu, cuda (CUDA 11.4 API: JetPack 5; libcuda and NVRTC loaded at run time)"
    } else if cfg!(feature = "cuda-jp6") {
        "cpu, cuda (CUDA 12.2 API: JetPack 6; libcuda and NVRTC loaded at run time)"
    } else if cfg!(feature = "cuda-13") {
        "cpu, cuda (CUDA 13.0 API; libcuda and NVRTC loaded at run time)"
    } else {
        "cpu"
    };
    let tensorrt = if cfg!(feature = "tensorrt") { ", tensorrt (libnvinfer loaded at run time)" } else { "" };
    format!(
        "{}\nengines: onnx-cpu (ONNX Runtime >= {}, loaded at run time){tensorrt}\npreprocess: {cuda}\ntarget: {}-{}{hooks}",
        env!("CARGO_PKG_VERSION"),
        crate::engine::ortlib::MIN_VERSION,
        std::env::consts::ARCH,
        std::env::consts::OS
    )
}

#[derive(Parser, Debug)]
#[command(name = "edgesight", version, long_version = long_version(), about = "Video analytics appliance: capture, detect, emit events")]
pub struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Run the configured streams through the detector and emit events until the streams end or
    /// SIGTERM/SIGINT; SIGHUP reloads the configuration.
    Run {
        /// Configuration file (its conf.d/*.toml drop-ins are read too).
        #[arg(long, short, value_name = "FILE", default_value = DEFAULT_PATH)]
        config: PathBuf,
        /// Validate everything `check` does, print the resolved configuration, and exit.
        #[arg(long)]
        dry_run: bool,
    },
    /// Validate the configuration (schema, then model, outputs and sources) and print it resolved,
    /// with the file and line that set each value. Exit 0, or 2 config / 3 model / 4 source / 5 output.
    Check {
        /// Configuration file (its conf.d/*.toml drop-ins are read too).
        #[arg(long, short, value_name = "FILE", default_value = DEFAULT_PATH)]
        config: PathBuf,
        /// Skip the checks that need the network (RTSP sources answering).
        #[arg(long)]
        offline: bool,
        /// Only the schema stage: no model, output or source checks (for configs written off-device).
        #[arg(long)]
        schema_only: bool,
        /// Do not print the resolved configuration.
        #[arg(long, short)]
        quiet: bool,
    },
    /// Measure the configured pipeline as `run` runs it (FPS, latency, stage times, CPU/GPU,
    /// memory, drops), then the engine alone, and judge against the configured fps_target with
    /// the optimisation guide's rules. The report goes to standard output.
    Bench {
        /// Configuration file (its conf.d/*.toml drop-ins are read too).
        #[arg(long, short, value_name = "FILE", default_value = DEFAULT_PATH)]
        config: PathBuf,
        /// Seconds measured after the warm-up (default 30 unless --frames is given).
        #[arg(long, value_name = "S", conflicts_with = "frames", value_parser = parse_seconds)]
        duration: Option<f64>,
        /// Frames measured after the warm-up, all streams together.
        #[arg(long, value_name = "N", value_parser = clap::value_parser!(u64).range(1..))]
        frames: Option<u64>,
        /// Seconds after the first processed frame that are not measured (engine and caches warming up).
        #[arg(long, value_name = "S", default_value_t = 3.0, value_parser = parse_warmup)]
        warmup: f64,
        /// Also write the report as JSON to this file (schema: docs/perf/bench_report.md).
        #[arg(long, value_name = "FILE")]
        json: Option<PathBuf>,
        /// A model to measure instead of the configured one when a target is missed (repeatable);
        /// `<model>_int8.onnx` next to the configured model is measured without being named.
        #[arg(long, value_name = "MODEL")]
        compare: Vec<PathBuf>,
    },
    /// Run the model on image or video files and print one event per processed frame.
    Detect {
        /// Configuration file (its [model] section is used; streams are ignored).
        #[arg(long, short, value_name = "FILE")]
        config: Option<PathBuf>,
        /// Model file, instead of or overriding the config's model.path.
        #[arg(long, value_name = "ONNX")]
        model: Option<PathBuf>,
        /// Model family (with --model when there is no config).
        #[arg(long, value_name = "FAMILY", value_parser = parse_family)]
        family: Option<Family>,
        /// Labels file (one class name per line).
        #[arg(long, value_name = "FILE")]
        labels: Option<PathBuf>,
        /// Score threshold, overriding the config.
        #[arg(long, value_name = "0..1")]
        score_threshold: Option<f32>,
        /// Process every N-th decoded frame of videos (frame numbers still count every decoded frame).
        #[arg(long, value_name = "N", default_value_t = 1, value_parser = clap::value_parser!(u64).range(1..))]
        every: u64,
        /// Image or video files.
        #[arg(required = true, value_name = "INPUT")]
        inputs: Vec<PathBuf>,
    },
    /// Run the tracker on detections in the MOTChallenge format (`frame,id,x,y,w,h,conf,...`,
    /// frames from 1) and write the tracks in the same format: the tracker without a model or a
    /// video, for scoring it with the MOTChallenge tools.
    Track {
        /// The detections.
        #[arg(long, value_name = "FILE")]
        mot_det: PathBuf,
        /// Frame size, e.g. 640x480.
        #[arg(long, value_name = "WxH", value_parser = parse_size)]
        size: (u32, u32),
        /// Configuration file: its [tracking] settings and model.score_threshold (defaults otherwise).
        #[arg(long, short, value_name = "FILE")]
        config: Option<PathBuf>,
        /// Apply this configured stream's fps_limit (or else pipeline.fps_limit) to the frames, as `run` would.
        #[arg(long, value_name = "NAME", requires = "config")]
        stream: Option<String>,
        /// Frame rate of the sequence, for the frames' timestamps.
        #[arg(long, default_value_t = 30.0, value_parser = parse_fps)]
        fps: f64,
        /// Where the tracks go (default standard output; with zones or lines in the stream, only here).
        #[arg(long, value_name = "OUT")]
        tracks: Option<PathBuf>,
    },
    /// TensorRT engines (builds with the tensorrt feature).
    Engine {
        #[command(subcommand)]
        action: EngineCommand,
    },
}

#[derive(Subcommand, Debug)]
enum EngineCommand {
    /// Build a TensorRT engine from an ONNX model on this device (minutes on a Jetson) and store it
    /// in the engine cache, where `run` with the same model and settings finds it; or in --output.
    Build {
        /// The ONNX model.
        #[arg(long, value_name = "ONNX")]
        onnx: PathBuf,
        /// fp32, fp16, int8 (a Q/DQ model; TensorRT 8/10 also take INT8 flags) or as-exported.
        #[arg(long, default_value = "fp16", value_parser = parse_precision)]
        precision: crate::engine::engine_cache::Precision,
        /// Build for this DLA core (GPU fallback on).
        #[arg(long, value_name = "N", value_parser = clap::value_parser!(u32).range(0..2))]
        dla: Option<u32>,
        /// Largest batch (model.batch); > 1 needs a model with a dynamic batch dimension.
        #[arg(long, value_name = "N", default_value_t = 1, value_parser = clap::value_parser!(u32).range(1..65))]
        batch: u32,
        /// The engine cache folder (model.engine_cache); default <cache folder>/engines.
        #[arg(long, value_name = "DIR")]
        cache: Option<PathBuf>,
        /// Write the engine here instead of into the cache.
        #[arg(long, value_name = "FILE")]
        output: Option<PathBuf>,
        /// The TensorRT library (model.tensorrt_lib); default libnvinfer.so.<major>.
        #[arg(long, value_name = "FILE")]
        tensorrt_lib: Option<PathBuf>,
        /// INT8 of a model without Q/DQ nodes: a folder of .jpg/.png frames to calibrate with
        /// (model.calibration_images); needs --family for the input contract.
        #[arg(long, value_name = "DIR", requires = "family")]
        calib: Option<PathBuf>,
        /// The model's family (with --calib): how calibration images are preprocessed.
        #[arg(long, value_name = "FAMILY", value_parser = parse_family)]
        family: Option<Family>,
    },
}

fn parse_size(s: &str) -> std::result::Result<(u32, u32), String> {
    let bad = || format!("{s:?} is not a frame size; expected WIDTHxHEIGHT such as 640x480");
    let (w, h) = s.split_once(['x', 'X']).ok_or_else(bad)?;
    match (w.trim().parse::<u32>(), h.trim().parse::<u32>()) {
        (Ok(w), Ok(h)) if w > 0 && h > 0 && w <= 16_384 && h <= 16_384 => Ok((w, h)),
        _ => Err(bad()),
    }
}

fn parse_fps(s: &str) -> std::result::Result<f64, String> {
    match s.parse::<f64>() {
        Ok(v) if v.is_finite() && (0.01..=1000.0).contains(&v) => Ok(v),
        _ => Err(format!("{s:?} is not a frame rate; expected a number of frames per second in 0.01..=1000")),
    }
}

fn parse_seconds(s: &str) -> std::result::Result<f64, String> {
    match s.parse::<f64>() {
        Ok(v) if v.is_finite() && (0.5..=86400.0).contains(&v) => Ok(v),
        _ => Err(format!("{s}: expected seconds in 0.5..=86400")),
    }
}

fn parse_warmup(s: &str) -> std::result::Result<f64, String> {
    match s.parse::<f64>() {
        Ok(v) if v.is_finite() && (0.0..=3600.0).contains(&v) => Ok(v),
        _ => Err(format!("{s}: expected seconds in 0..=3600")),
    }
}

fn parse_precision(s: &str) -> std::result::Result<crate::engine::engine_cache::Precision, String> {
    crate::engine::engine_cache::Precision::from_name(s)
        .ok_or_else(|| format!("unknown precision {s:?}; expected fp32, fp16, int8 or as-exported"))
}

fn parse_family(s: &str) -> std::result::Result<Family, String> {
    serde_json::from_value(serde_json::Value::String(s.to_string()))
        .map_err(|_| format!("unknown family {s:?}; expected nanodet, ssd, yolov5, yolov8 or yolox"))
}

fn detect_config(
    config: Option<&Path>,
    model: Option<PathBuf>,
    family: Option<Family>,
    labels: Option<PathBuf>,
    score_threshold: Option<f32>,
) -> Result<Config> {
    let default = Path::new(DEFAULT_PATH);
    let mut cfg = match (config, &model) {
        (Some(p), _) => config::load_file(p)?,
        (None, None) if default.exists() => config::load_file(default)?,
        (None, Some(m)) => {
            let Some(f) = family else {
                return Err(Error::config(
                    "--model needs --family (nanodet, ssd, yolov5, yolov8 or yolox) when no --config is given",
                ));
            };
            Config {
                origin: None,
                device: config::DeviceConfig { name: "edgesight".into(), log_level: log::LevelFilter::Info },
                model: ModelConfig::new(m.clone(), f),
                pipeline: Default::default(),
                streams: Vec::new(),
                output: config::OutputConfig::stdout(),
                metrics: Default::default(),
                tracking: Default::default(),
                counts_interval: None,
                snapshots: None,
                visualise: None,
            }
        }
        (None, None) => {
            return Err(Error::config(format!(
                "no model: pass --config FILE (e.g. configs/x86-dev.toml) or --model PATH --family NAME ({DEFAULT_PATH} does not exist)"
            )));
        }
    };
    if let Some(m) = model {
        cfg.model.path = m;
    }
    if let Some(f) = family {
        cfg.model.family = f;
    }
    if let Some(l) = labels {
        cfg.model.labels = Some(l);
    }
    if let Some(t) = score_threshold {
        if !(0.0..=1.0).contains(&t) {
            return Err(Error::config(format!("--score-threshold {t} is out of range, expected 0..=1")));
        }
        cfg.model.score_threshold = t;
    }
    Ok(cfg)
}

/// Both validation stages; prints the resolved configuration unless `quiet`.
fn check(path: &Path, opts: &CheckOptions, schema_only: bool, quiet: bool) -> Result<Config> {
    let loaded = config::load(path)?;
    crate::logging::init(loaded.config.device.log_level.min(log::LevelFilter::Warn));
    if !quiet {
        print!("{}", config::report::resolved(&loaded));
    }
    if schema_only {
        eprintln!("edgesight: {}: configuration valid (schema only)", path.display());
        return Ok(loaded.config);
    }
    let checked = assemble::check(&loaded, opts);
    if !quiet {
        for (name, line) in &checked.pipelines {
            println!("# pipeline of stream {name:?}: {}", crate::text::printable(line));
        }
        for (name, answer) in &checked.answers {
            println!("# stream {name:?} answered: {}", crate::text::printable(answer));
        }
        if let Some(m) = &loaded.config.output.mqtt {
            println!("# {}", crate::sink::mqtt::not_contacted(m));
        }
    }
    let mut errors = checked.errors;
    if errors.is_empty() {
        eprintln!("edgesight: {}: configuration valid", path.display());
        return Ok(loaded.config);
    }
    // Exit code of the first problem in the order model, output, source.
    errors.sort_by_key(|e| match e.kind() {
        crate::ExitKind::Model => 0,
        crate::ExitKind::Output => 1,
        crate::ExitKind::Source => 2,
        _ => 3,
    });
    let first = errors.remove(0);
    for e in &errors {
        report(e);
    }
    Err(first)
}

fn dispatch(cli: Cli) -> Result<()> {
    match cli.command {
        Command::Check { config, offline, schema_only, quiet } => {
            let opts = CheckOptions { offline, ..CheckOptions::default() };
            check(&config, &opts, schema_only, quiet).map(|_| ())
        }
        Command::Run { config, dry_run: true } => check(&config, &CheckOptions::default(), false, false).map(|_| ()),
        Command::Run { config, dry_run: false } => {
            // First, so that a signal in any later moment of start-up is a request, not death.
            let signals = Signals::install()?;
            let loaded = config::load(&config)?;
            crate::logging::init(loaded.config.device.log_level);
            let report = pipeline::run(loaded.config.clone(), Some(config), signals).map_err(|e| loaded.locate(e))?;
            for s in &report.streams {
                log::info!(
                    "stream \"{}\": {} frames processed, {} dropped (engine busy), {} dropped (fps_limit), {:?}",
                    s.name,
                    s.processed,
                    s.dropped_busy,
                    s.dropped_fps_limit,
                    s.state
                );
            }
            let mut stats = report.stats;
            stats.dropped = report.streams.iter().map(|s| s.dropped()).sum();
            eprintln!("{}", stats.line(report.engine));
            Ok(())
        }
        Command::Bench { config, duration, frames, warmup, json, compare } => {
            let signals = Signals::install()?;
            let loaded = config::load(&config)?;
            crate::logging::init(loaded.config.device.log_level.min(log::LevelFilter::Warn));
            let limit = match (frames, duration) {
                (Some(n), _) => crate::bench::Limit::Frames(n),
                (None, d) => crate::bench::Limit::Duration(std::time::Duration::from_secs_f64(d.unwrap_or(30.0))),
            };
            let args = crate::bench::BenchArgs { limit, warmup: std::time::Duration::from_secs_f64(warmup), compare };
            let report = crate::bench::bench(&loaded.config, &config, &args, &signals).map_err(|e| loaded.locate(e))?;
            print!("{}", report.text());
            if let Some(path) = json {
                std::fs::write(&path, report.to_json() + "\n").map_err(|e| {
                    Error::output(format!("cannot write the JSON report to {}: {e}; check the path", path.display()))
                })?;
            }
            Ok(())
        }
        Command::Detect { config, model, family, labels, score_threshold, every, inputs } => {
            let cfg = detect_config(config.as_deref(), model, family, labels, score_threshold)?;
            crate::logging::init(cfg.device.log_level.min(log::LevelFilter::Warn));
            let signals = Signals::install()?;
            // Each event printed as it is found.
            let policy = FilePolicy { flush_interval: std::time::Duration::ZERO, ..FilePolicy::default() };
            let mut sink = JsonlSink::stdout(policy, Default::default());
            let (stats, engine) =
                detect_files(&cfg, &DetectArgs { inputs, every }, &mut sink, signals.terminate_flag())?;
            eprintln!("{}", stats.line(engine));
            Ok(())
        }
        Command::Track { mot_det, size, config, stream, fps, tracks } => {
            crate::logging::init(log::LevelFilter::Warn);
            let args = TrackArgs { mot_det: &mot_det, size, config: config.as_deref(), stream: stream.as_deref(), fps };
            let s = track_mot(&args, tracks.as_deref())?;
            eprintln!(
                "edgesight track: {} frames, {} detections, {} tracks, {} track boxes",
                s.frames, s.detections, s.tracks, s.boxes
            );
            Ok(())
        }
        Command::Engine {
            action: EngineCommand::Build { onnx, precision, dla, batch, cache, output, tensorrt_lib, calib, family },
        } => {
            crate::logging::init(log::LevelFilter::Info);
            let build = EngineBuild { onnx, precision, dla, batch, cache, output, tensorrt_lib, calib, family };
            build_engine(build)
        }
    }
}

/// `edgesight engine build`'s arguments (read only by builds with TensorRT).
#[cfg_attr(not(feature = "tensorrt"), allow(dead_code))]
struct EngineBuild {
    onnx: PathBuf,
    precision: crate::engine::engine_cache::Precision,
    dla: Option<u32>,
    batch: u32,
    cache: Option<PathBuf>,
    output: Option<PathBuf>,
    tensorrt_lib: Option<PathBuf>,
    calib: Option<PathBuf>,
    family: Option<Family>,
}

#[cfg(feature = "tensorrt")]
fn build_engine(b: EngineBuild) -> Result<()> {
    use crate::engine::engine_cache::{OnMismatch, Precision};
    use crate::engine::tensorrt::{CalibrationSource, TensorRtOptions, build_to};
    let calibration = match (b.calib, b.family) {
        (Some(_), _) if b.precision != Precision::Int8 => {
            return Err(Error::config("--calib calibrates INT8 engines: add --precision int8"));
        }
        (Some(dir), Some(family)) => {
            let c = crate::runtime::calibration::ImageCalibration::new(&dir, family, Default::default())?;
            Some(std::sync::Mutex::new(Box::new(c) as Box<dyn CalibrationSource>))
        }
        _ => None,
    };
    let opts = TensorRtOptions {
        library: b.tensorrt_lib,
        precision: b.precision,
        dla_core: b.dla,
        max_batch: b.batch,
        cache_dir: b.cache,
        on_mismatch: OnMismatch::Rebuild,
        calibration,
    };
    let path = build_to(&b.onnx, &opts, b.output.as_deref())?;
    println!("{}", path.display());
    Ok(())
}

#[cfg(not(feature = "tensorrt"))]
fn build_engine(_b: EngineBuild) -> Result<()> {
    Err(Error::model(
        "edgesight engine build needs a build with TensorRT (cargo feature tensorrt, or jetson-jp5 / jetson-jp6 / \
         jetson-13; the Jetson image)",
    ))
}

/// Prints an error, one line per problem; under journald with the error priority.
fn report(e: &Error) {
    let prefix = if std::env::var_os("JOURNAL_STREAM").is_some() { "<3>" } else { "" };
    for line in e.to_string().lines() {
        eprintln!("{prefix}edgesight: {}: {}", e.label(), crate::text::printable(line));
    }
}

/// Entry point of the binary.
pub fn main() -> ExitCode {
    crate::alloc_tuning::limit_arenas();
    let cli = Cli::parse();
    let result = dispatch(cli);
    // Suppressed-message counts still pending come out before the process ends.
    log::logger().flush();
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            report(&e);
            ExitCode::from(e.exit_code())
        }
    }
}
