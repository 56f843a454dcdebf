//! Typed errors with the exit codes of DESIGN.md.
//!
//! Every error that a user, a camera, a model file or the disk can cause ends up as one of these,
//! printed as a single line that names the cause and the fix, and mapped to a documented exit code.

use std::fmt;

/// Process exit codes (DESIGN.md, "Shapes that other parts rely on"). Tools and systemd rely on them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExitKind {
    /// 1: anything not covered below.
    Other = 1,
    /// 2: the configuration is invalid (syntax, schema, ranges).
    Config = 2,
    /// 3: the model file or the inference engine cannot be used.
    Model = 3,
    /// 4: a video source cannot be opened or decoded.
    Source = 4,
    /// 5: an output (file, broker) cannot be written.
    Output = 5,
    /// 6: stopped before the drain finished: `pipeline.shutdown_timeout_s` ran out with frames
    /// still handed over for processing (their count is logged). A drain in time exits 0.
    ShutdownTimeout = 6,
}

impl ExitKind {
    pub fn code(self) -> u8 {
        self as u8
    }
}

/// The error type of the whole crate: a kind (for the exit code) and a one-line message.
///
/// Messages are built where the context is known (file names, tensor names, what was expected),
/// so the top level only prints them.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("{0}")]
    Config(String),
    #[error("{0}")]
    Model(String),
    #[error("{0}")]
    Source(String),
    #[error("{0}")]
    Output(String),
    #[error("{0}")]
    Other(String),
}

impl Error {
    pub fn kind(&self) -> ExitKind {
        match self {
            Error::Config(_) => ExitKind::Config,
            Error::Model(_) => ExitKind::Model,
            Error::Source(_) => ExitKind::Source,
            Error::Output(_) => ExitKind::Output,
            Error::Other(_) => ExitKind::Other,
        }
    }

    pub fn exit_code(&self) -> u8 {
        self.kind().code()
    }

    /// Short word printed before the message, so a log reader sees the class of failure.
    pub fn label(&self) -> &'static str {
        match self {
            Error::Config(_) => "config error",
            Error::Model(_) => "model error",
            Error::Source(_) => "source error",
            Error::Output(_) => "output error",
            Error::Other(_) => "error",
        }
    }

    pub fn config(msg: impl fmt::Display) -> Self {
        Error::Config(msg.to_string())
    }
    pub fn model(msg: impl fmt::Display) -> Self {
        Error::Model(msg.to_string())
    }
    pub fn source(msg: impl fmt::Display) -> Self {
        Error::Source(msg.to_string())
    }
    pub fn output(msg: impl fmt::Display) -> Self {
        Error::Output(msg.to_string())
    }
    pub fn other(msg: impl fmt::Display) -> Self {
        Error::Other(msg.to_string())
    }
}

pub type Result<T, E = Error> = std::result::Result<T, E>;
