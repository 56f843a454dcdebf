//! Command line: argument parsing and dispatch. Each command is a thin call into the library;
//! errors become one line on stderr and the exit code of DESIGN.md.

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;
use std::sync::atomic::AtomicBool;

use clap::{Parser, Subcommand};

use crate::config::{self, Config, ModelConfig};
use crate::detect::Family;
use crate::error::{Error, Result};
use crate::runtime::detect_files::{DetectArgs, detect_files};
use crate::runtime::pipeline;
use crate::sink::JsonlSink;

/// Where the service's configuration lives on a device.
pub const DEFAULT_CONFIG: &str = "/etc/edgesight/edgesight.toml";

fn long_version() -> String {
    format!(
        "{}\nengines: onnx-cpu (ONNX Runtime >= {}, loaded at run time)\ntarget: {}-{}",
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
    /// Run the configured streams through the detector and emit events until the streams end or a signal arrives.
    Run {
        /// Configuration file.
        #[arg(long, short, value_name = "FILE", default_value = DEFAULT_CONFIG)]
        config: PathBuf,
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
}

fn parse_family(s: &str) -> std::result::Result<Family, String> {
    serde_json::from_value(serde_json::Value::String(s.to_string())).map_err(|_| {
        format!("unknown family {s:?}; expected nanodet, ssd, yolov5, yolov8 or yolox")
    })
}

fn init_logging(level: log::LevelFilter) {
    let mut b = env_logger::Builder::new();
    b.filter_level(level);
    // RUST_LOG, when set, overrides the configured level.
    b.parse_env("RUST_LOG");
    b.format_timestamp_millis();
    let _ = b.try_init();
}

fn stop_flag() -> Result<Arc<AtomicBool>> {
    let stop = Arc::new(AtomicBool::new(false));
    for sig in [signal_hook::consts::SIGINT, signal_hook::consts::SIGTERM] {
        // A second signal while stopping ends the process at once.
        signal_hook::flag::register_conditional_shutdown(sig, 130, Arc::clone(&stop))
            .and_then(|_| signal_hook::flag::register(sig, Arc::clone(&stop)))
            .map_err(|e| Error::other(format!("cannot install signal handlers: {e}")))?;
    }
    Ok(stop)
}

fn detect_config(
    config: Option<&Path>,
    model: Option<PathBuf>,
    family: Option<Family>,
    labels: Option<PathBuf>,
    score_threshold: Option<f32>,
) -> Result<Config> {
    let default = Path::new(DEFAULT_CONFIG);
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
                device: config::DeviceConfig {
                    name: "edgesight".into(),
                    log_level: log::LevelFilter::Info,
                },
                model: ModelConfig::new(m.clone(), f),
                pipeline: Default::default(),
                streams: Vec::new(),
                output: config::OutputConfig {
                    jsonl: config::EventTarget::Stdout,
                },
            }
        }
        (None, None) => {
            return Err(Error::config(format!(
                "no model: pass --config FILE (e.g. configs/x86-dev.toml) or --model PATH --family NAME ({DEFAULT_CONFIG} does not exist)"
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
            return Err(Error::config(format!(
                "--score-threshold {t} is out of range, expected 0..=1"
            )));
        }
        cfg.model.score_threshold = t;
    }
    Ok(cfg)
}

fn dispatch(cli: Cli) -> Result<()> {
    match cli.command {
        Command::Run { config } => {
            let cfg = config::load_file(&config)?;
            init_logging(cfg.device.log_level);
            let stop = stop_flag()?;
            let report = pipeline::run(&cfg, stop)?;
            for (name, n, d) in &report.streams {
                log::info!("stream {name:?}: {n} frames processed, {d} dropped");
            }
            eprintln!("{}", report.stats.line(report.engine));
            Ok(())
        }
        Command::Detect {
            config,
            model,
            family,
            labels,
            score_threshold,
            every,
            inputs,
        } => {
            let cfg = detect_config(config.as_deref(), model, family, labels, score_threshold)?;
            init_logging(cfg.device.log_level.min(log::LevelFilter::Warn));
            let stop = stop_flag()?;
            let mut sink = JsonlSink::stdout();
            let stats = detect_files(&cfg, &DetectArgs { inputs, every }, &mut sink, &stop)?;
            eprintln!("{}", stats.line("onnx-cpu"));
            Ok(())
        }
    }
}

/// Entry point of the binary.
pub fn main() -> ExitCode {
    let cli = Cli::parse();
    match dispatch(cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            // Config validation may report several problems, one per line.
            for line in e.to_string().lines() {
                eprintln!("edgesight: {}: {line}", e.label());
            }
            ExitCode::from(e.exit_code())
        }
    }
}
