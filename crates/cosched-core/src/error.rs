//! Errors of loading and validating profiles, workloads and traces.

use std::path::Path;
use thiserror::Error;

/// A problem with an input file. Every variant names the file; `Display` is one line.
#[derive(Debug, Error)]
pub enum ConfigError {
    /// The file could not be read.
    #[error("{file}: cannot read: {source}")]
    Io {
        /// The file.
        file: String,
        /// Why.
        source: std::io::Error,
    },
    /// The file is not valid TOML or does not have the expected shape.
    #[error("{file}: line {line}, column {column}: {message}")]
    Syntax {
        /// The file.
        file: String,
        /// 1-based line of the problem.
        line: usize,
        /// 1-based column of the problem.
        column: usize,
        /// What is wrong.
        message: String,
    },
    /// The file parses but a value is not acceptable.
    #[error("{file}: {field}: {message}")]
    Invalid {
        /// The file.
        file: String,
        /// Where in the file, e.g. `processor[2].slots` or `model "resnet50".latency_ms.gpu`.
        field: String,
        /// What is wrong.
        message: String,
    },
}

impl ConfigError {
    pub(crate) fn invalid(file: &str, field: impl Into<String>, message: impl Into<String>) -> Self {
        ConfigError::Invalid {
            file: file.to_string(),
            field: field.into(),
            message: message.into(),
        }
    }

    pub(crate) fn io(file: &Path, source: std::io::Error) -> Self {
        ConfigError::Io {
            file: file.display().to_string(),
            source,
        }
    }

    /// Turn a `toml` error into a one-line error with a line and column.
    pub(crate) fn from_toml(file: &str, text: &str, err: toml::de::Error) -> Self {
        let offset = err.span().map(|s| s.start).unwrap_or(0).min(text.len());
        let before = &text.as_bytes()[..offset];
        let line = before.iter().filter(|&&b| b == b'\n').count() + 1;
        let column = offset - before.iter().rposition(|&b| b == b'\n').map_or(0, |p| p + 1) + 1;
        let message = err.message().replace('\n', " ").trim().to_string();
        ConfigError::Syntax {
            file: file.to_string(),
            line,
            column,
            message,
        }
    }
}

/// Check that a number is finite and strictly positive.
pub(crate) fn positive(file: &str, field: &str, v: f64) -> Result<f64, ConfigError> {
    if v.is_finite() && v > 0.0 {
        Ok(v)
    } else {
        Err(ConfigError::invalid(
            file,
            field,
            format!("must be a positive number, got {v}"),
        ))
    }
}

/// Check that a number is finite and not negative.
pub(crate) fn non_negative(file: &str, field: &str, v: f64) -> Result<f64, ConfigError> {
    if v.is_finite() && v >= 0.0 {
        Ok(v)
    } else {
        Err(ConfigError::invalid(
            file,
            field,
            format!("must be a number >= 0, got {v}"),
        ))
    }
}
