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
    /// A trace file that cannot be read as one: not a regular file, or too large. Checked before
    /// reading, because a device such as `/dev/urandom` never ends and a FIFO blocks.
    #[error("{file}: {problem}; a trace is a CSV file of timestamp_ms,model rows")]
    Trace {
        /// The file.
        file: String,
        /// What is wrong with it.
        problem: FileProblem,
    },
    /// A profile or workload file refused before it is read, for the same reasons as a trace.
    #[error("{file}: {problem}; expected a TOML file")]
    File {
        /// The file.
        file: String,
        /// What is wrong with it.
        problem: FileProblem,
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

/// Why an input file is refused before it is read.
#[derive(Debug, Error, Clone, PartialEq, Eq)]
pub enum FileProblem {
    /// A device, FIFO, socket or folder instead of a regular file.
    #[error("not a regular file (it is {kind})")]
    NotRegularFile {
        /// What it is instead, in words.
        kind: &'static str,
    },
    /// Larger than a trace may be.
    #[error("{size} bytes, more than the {limit} bytes such a file may have")]
    TooLarge {
        /// Its size in bytes (at least this much was found).
        size: u64,
        /// The limit in bytes.
        limit: u64,
    },
}

impl ConfigError {
    pub(crate) fn invalid(file: &str, field: impl Into<String>, message: impl Into<String>) -> Self {
        ConfigError::Invalid {
            file: one_line(file),
            field: one_line(&field.into()),
            message: one_line(&message.into()),
        }
    }

    pub(crate) fn io(file: &Path, source: std::io::Error) -> Self {
        ConfigError::Io {
            file: one_line(&file.display().to_string()),
            source,
        }
    }

    /// Turn a `toml` error into a one-line error with a line and column.
    pub(crate) fn from_toml(file: &str, text: &str, err: toml::de::Error) -> Self {
        let offset = err.span().map(|s| s.start).unwrap_or(0).min(text.len());
        let before = &text.as_bytes()[..offset];
        let line = before.iter().filter(|&&b| b == b'\n').count() + 1;
        let column = offset - before.iter().rposition(|&b| b == b'\n').map_or(0, |p| p + 1) + 1;
        let mut message = one_line(err.message().trim());
        // toml names the key only for missing fields; for a bad value, read it off the line.
        let line_text = text.lines().nth(line - 1).unwrap_or("");
        if let Some((key, _)) = line_text.split_once('=') {
            let key = key.trim();
            if !key.is_empty() && !key.starts_with('[') && !message.contains(key) {
                message = format!("{}: {message}", one_line(key));
            }
        }
        ConfigError::Syntax {
            file: one_line(file),
            line,
            column,
            message,
        }
    }
}

/// Escape control characters (newlines above all) copied from the input, so that an error stays
/// on one line whatever the file holds.
pub(crate) fn one_line(s: &str) -> String {
    if !s.chars().any(char::is_control) {
        return s.to_string();
    }
    s.chars()
        .map(|c| {
            if c.is_control() {
                c.escape_default().to_string()
            } else {
                c.to_string()
            }
        })
        .collect()
}

/// Check that a rate-like number is positive and below `max`, so sums of rates stay finite.
pub(crate) fn positive_below(file: &str, field: &str, v: f64, max: f64) -> Result<f64, ConfigError> {
    let v = positive(file, field, v)?;
    if v > max {
        return Err(ConfigError::invalid(
            file,
            field,
            format!("{v} is implausibly large (more than {max})"),
        ));
    }
    Ok(v)
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

/// A file that could not be written; `Display` is one line naming it.
#[derive(Debug, Error)]
#[error("{file}: cannot write: {source}")]
pub struct WriteError {
    /// The file.
    pub file: String,
    /// Why.
    pub source: std::io::Error,
}

impl WriteError {
    pub(crate) fn new(file: &Path, source: std::io::Error) -> Self {
        WriteError {
            file: one_line(&file.display().to_string()),
            source,
        }
    }
}
