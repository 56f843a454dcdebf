//! `edgesight bench`: runs the configured pipeline for a while and reports what it achieved and
//! what it cost (docs/perf/bench_report.md).

pub mod gpu;
pub mod system;
