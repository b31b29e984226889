//! How well a device profile fits the machine a real run is on.
//!
//! A profile measured on another board (or on the same kind of virtual machine on a slower
//! host) silently shifts every decision and every `--load`: a run "at 60 % load" can be past
//! saturation. The executor feeds every measured service time here, and the run report carries
//! the measured/profile ratio per model and processor, so that a mismatch is visible and a
//! user knows to calibrate.

use crate::device::DeviceProfile;
use crate::ids::{ModelId, ProcessorId};
use serde::{Deserialize, Serialize};

/// Service times seen per (model, processor), against the profile's mean.
#[derive(Debug, Clone)]
pub struct ProfileFit {
    n_proc: usize,
    /// Per `model * n_proc + processor`: (count, sum of batch-normalised service ms).
    seen: Vec<(u64, f64)>,
    profile_ms: Vec<Option<f64>>,
}

/// One (model, processor) pair of a [`ProfileFit`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FitEntry {
    /// Model name.
    pub model: String,
    /// Processor id.
    pub processor: String,
    /// Inferences measured.
    pub samples: u64,
    /// Mean measured service time per batch-1 equivalent, ms.
    pub measured_ms: f64,
    /// The profile's mean batch-1 latency, ms.
    pub profile_ms: f64,
    /// `measured_ms / profile_ms`.
    pub ratio: f64,
}

impl FitEntry {
    /// Whether the measurement is off the profile by more than `factor` either way.
    pub fn mismatched(&self, factor: f64) -> bool {
        self.ratio > factor || self.ratio < 1.0 / factor
    }
}

impl ProfileFit {
    /// Samples of a pair before its ratio is trusted: the first inferences of a session are
    /// slow (allocation, caches), and a handful would make every run "mismatched".
    pub const MIN_SAMPLES: u64 = 20;

    /// An empty record for `device`.
    pub fn new(device: &DeviceProfile) -> ProfileFit {
        let n_proc = device.processors.len();
        let mut profile_ms = Vec::with_capacity(device.models.len() * n_proc);
        for m in &device.models {
            profile_ms.extend(m.on.iter().map(|o| o.as_ref().map(|o| o.mean_ms)));
        }
        ProfileFit {
            n_proc,
            seen: vec![(0, 0.0); profile_ms.len()],
            profile_ms,
        }
    }

    /// Record one inference of `batch` requests that took `service_ms`; `batch_factor` is the
    /// profile's latency multiplier of that batch size. Returns whether this sample made the
    /// pair reach [`ProfileFit::MIN_SAMPLES`] (the moment to check it).
    pub fn record(&mut self, model: ModelId, processor: ProcessorId, service_ms: f64, batch_factor: f64) -> bool {
        let i = model.index() * self.n_proc + processor.index();
        let Some(entry) = self.seen.get_mut(i) else {
            return false;
        };
        if !(service_ms.is_finite() && batch_factor > 0.0) {
            return false;
        }
        entry.0 += 1;
        entry.1 += service_ms / batch_factor;
        entry.0 == Self::MIN_SAMPLES
    }

    /// The pair's entry once it has [`ProfileFit::MIN_SAMPLES`] samples.
    pub fn entry(&self, device: &DeviceProfile, model: ModelId, processor: ProcessorId) -> Option<FitEntry> {
        let i = model.index() * self.n_proc + processor.index();
        let (n, sum) = *self.seen.get(i)?;
        let profile_ms = self.profile_ms[i]?;
        if n < Self::MIN_SAMPLES {
            return None;
        }
        let measured_ms = sum / n as f64;
        Some(FitEntry {
            model: device.models[model.index()].name.clone(),
            processor: device.processors[processor.index()].id.clone(),
            samples: n,
            measured_ms,
            profile_ms,
            ratio: measured_ms / profile_ms,
        })
    }

    /// Every pair with enough samples, in model then processor order.
    pub fn entries(&self, device: &DeviceProfile) -> Vec<FitEntry> {
        let n_models = self.seen.len() / self.n_proc.max(1);
        (0..n_models)
            .flat_map(|m| (0..self.n_proc).map(move |p| (m, p)))
            .filter_map(|(m, p)| self.entry(device, ModelId(m as u16), ProcessorId(p as u16)))
            .collect()
    }

    /// Counts since `base` (an earlier copy of this record), so that a run on a long-lived
    /// executor reports its own window only.
    pub fn since(&self, base: &ProfileFit) -> ProfileFit {
        let mut out = self.clone();
        for (o, b) in out.seen.iter_mut().zip(&base.seen) {
            o.0 -= b.0.min(o.0);
            o.1 = (o.1 - b.1).max(0.0);
        }
        out
    }
}
