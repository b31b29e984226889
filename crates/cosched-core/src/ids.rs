//! Small index and unit types that say what a number means.

use serde::{Deserialize, Serialize};
use std::fmt;

/// Index of a processor in its [`DeviceProfile`](crate::DeviceProfile) (order of `[[processor]]`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct ProcessorId(pub u16);

/// Index of a model in its [`DeviceProfile`](crate::DeviceProfile) (order of `[[model]]`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct ModelId(pub u16);

/// Index of a stream in its workload (order of `[[stream]]`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct StreamId(pub u16);

/// Sequence number of a request within one run, in order of arrival.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct RequestId(pub u64);

impl ProcessorId {
    /// The index as a `usize`, for indexing per-processor vectors.
    #[inline]
    pub fn index(self) -> usize {
        self.0 as usize
    }
}

impl ModelId {
    /// The index as a `usize`, for indexing per-model vectors.
    #[inline]
    pub fn index(self) -> usize {
        self.0 as usize
    }
}

impl StreamId {
    /// The index as a `usize`, for indexing per-stream vectors.
    #[inline]
    pub fn index(self) -> usize {
        self.0 as usize
    }
}

/// A duration or a point in time, in milliseconds.
///
/// Simulated time and wall-clock time are both measured in `Millis` from the start of a run.
///
/// ```
/// use cosched_core::Millis;
/// let t = Millis(1.5) + Millis(2.0);
/// assert_eq!(t.as_secs(), 0.0035);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, PartialOrd, Default, Serialize, Deserialize)]
pub struct Millis(pub f64);

impl Millis {
    /// Zero milliseconds.
    pub const ZERO: Millis = Millis(0.0);

    /// The value in seconds.
    #[inline]
    pub fn as_secs(self) -> f64 {
        self.0 / 1000.0
    }

    /// Build from seconds.
    #[inline]
    pub fn from_secs(s: f64) -> Millis {
        Millis(s * 1000.0)
    }
}

impl std::ops::Add for Millis {
    type Output = Millis;
    #[inline]
    fn add(self, rhs: Millis) -> Millis {
        Millis(self.0 + rhs.0)
    }
}

impl std::ops::Sub for Millis {
    type Output = Millis;
    #[inline]
    fn sub(self, rhs: Millis) -> Millis {
        Millis(self.0 - rhs.0)
    }
}

impl fmt::Display for Millis {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:.3} ms", self.0)
    }
}
