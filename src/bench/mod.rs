//! `edgesight bench`: the optimisation guide made executable. Runs the configured pipeline,
//! measures it (`measure`), the process and the machine (`system`, `gpu`) and the engine alone,
//! applies the guide's decision rules (`verdict`) and reports (`report`, docs/perf/bench_report.md).

pub mod gpu;
pub mod measure;
pub mod report;
pub mod run;
pub mod system;
pub mod verdict;

pub use measure::Limit;
pub use run::{BenchArgs, bench};
