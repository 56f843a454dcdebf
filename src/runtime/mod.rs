//! Runtime: assembling the parts from a configuration, the detector, the `detect` command over
//! files and the `run` pipeline over streams.

pub mod assemble;
pub mod detect_files;
pub mod detector;
pub mod mailbox;
pub mod notify;
pub mod pipeline;
pub mod plan;
pub mod signals;
pub mod streams;
pub mod supervise;

pub use detector::Detector;
