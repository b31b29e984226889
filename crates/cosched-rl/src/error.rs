//! Errors of training and of policy files. Every message is one line naming what is wrong.

use thiserror::Error;

/// Training could not run or its result could not be encoded.
#[derive(Debug, Error)]
pub enum RlError {
    /// A setting is out of range, or a workload does not fit the device.
    #[error("training configuration: {0}")]
    Config(String),
    /// A training checkpoint could not be written, read, or does not fit this run.
    #[error("checkpoint {dir}: {problem}")]
    Checkpoint {
        /// The checkpoint folder.
        dir: String,
        /// What is wrong, in one line.
        problem: String,
    },
    /// burn could not encode or decode the weights.
    #[error("weights: {0:?}")]
    Record(burn::store::RecordError),
}

impl From<burn::store::RecordError> for RlError {
    fn from(e: burn::store::RecordError) -> Self {
        RlError::Record(e)
    }
}

/// A policy file could not be loaded (or saved).
#[derive(Debug, Error, PartialEq)]
#[error("policy {origin}: {problem}")]
pub struct PolicyFileError {
    /// The file or directory (or the compiled-in name).
    pub origin: String,
    /// What is wrong, in one line.
    pub problem: String,
}

impl PolicyFileError {
    pub(crate) fn new(origin: &str, problem: impl Into<String>) -> Self {
        let problem: String = problem.into();
        PolicyFileError {
            origin: origin.to_string(),
            problem: problem.split_whitespace().collect::<Vec<_>>().join(" "),
        }
    }
}
