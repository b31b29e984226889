//! Errors of the telemetry readers.

use std::path::PathBuf;

/// Why a sensor could not be read.
///
/// Sensors come and go (drivers unbind, files need root, NVML is missing): every reader returns
/// this instead of panicking, and [`crate::EnergyMeter`] counts failed samples rather than
/// stopping.
#[derive(Debug, thiserror::Error)]
pub enum TelemetryError {
    /// A sysfs file could not be read (missing, permission denied, device gone).
    #[error("cannot read {path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The underlying error.
        source: std::io::Error,
    },
    /// A sysfs file held something that is not the number expected.
    #[error("{path}: expected {expected}, found {found:?}")]
    Parse {
        /// The file.
        path: PathBuf,
        /// What was expected, e.g. "an integer (uJ)".
        expected: &'static str,
        /// What the file held (trimmed, truncated).
        found: String,
    },
    /// The NVML library could not be loaded or lacks a function.
    #[error("NVML is not available: {0}")]
    NvmlUnavailable(String),
    /// An NVML call returned an error code.
    #[error("NVML {function} failed: {message} (code {code})")]
    Nvml {
        /// The NVML function called.
        function: &'static str,
        /// The `nvmlReturn_t` code.
        code: u32,
        /// NVML's own description of the code.
        message: String,
    },
    /// A sensor returned a value that cannot be right (negative energy, NaN power).
    #[error("{sensor}: implausible reading: {detail}")]
    Implausible {
        /// The sensor's name.
        sensor: String,
        /// What was wrong.
        detail: String,
    },
}
