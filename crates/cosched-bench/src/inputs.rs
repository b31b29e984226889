//! Resolving the command line's device, workload and policy names into loaded values.

use cosched_core::{DeviceProfile, ObjectiveWeights, Policy, ResolvedWorkload, Workload};
use std::fmt;

/// An error in what the user gave us: exit code 2.
#[derive(Debug)]
pub struct BadInput(pub String);

impl fmt::Display for BadInput {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for BadInput {}

impl From<cosched_core::ConfigError> for BadInput {
    fn from(e: cosched_core::ConfigError) -> Self {
        BadInput(e.to_string())
    }
}

/// A device profile and a workload resolved against it.
pub struct Inputs {
    pub device: DeviceProfile,
    pub workload: ResolvedWorkload,
}

impl Inputs {
    pub fn load(device: &str, workload: &str, load: Option<f64>, duration: Option<f64>) -> Result<Inputs, BadInput> {
        Inputs::with_device(DeviceProfile::load(device)?, workload, load, duration)
    }

    /// Like [`Inputs::load`] with a device profile already in hand (a calibrated one).
    pub fn with_device(
        device: DeviceProfile,
        workload: &str,
        load: Option<f64>,
        duration: Option<f64>,
    ) -> Result<Inputs, BadInput> {
        let mut w = Workload::load(workload)?;
        if let Some(d) = duration {
            w.duration_s = check_duration(d)?;
        }
        Inputs::resolve(device, &w, load, workload)
    }

    /// Resolve a workload already loaded; `file` names it in errors.
    pub fn resolve(device: DeviceProfile, w: &Workload, load: Option<f64>, file: &str) -> Result<Inputs, BadInput> {
        let workload = w.resolve(&device, load, file)?;
        if load.is_some() && workload.load.is_none() {
            tracing::warn!(
                "--load ignored: workload \"{}\" has only closed-loop streams",
                workload.name
            );
        }
        Ok(Inputs { device, workload })
    }

    /// Build a policy by name: a baseline, `drl[:objective]`, or a policy file.
    pub fn policy(&self, name: &str, weights: ObjectiveWeights) -> Result<Box<dyn Policy>, BadInput> {
        cosched::resolve_policy(name, &self.device, weights).map_err(|e| BadInput(e.to_string()))
    }
}

/// Check a `--duration` value, seconds.
pub fn check_duration(d: f64) -> Result<f64, BadInput> {
    if d.is_finite() && d > 0.0 && d <= 1e6 {
        Ok(d)
    } else {
        Err(BadInput(format!("--duration: must be in (0, 1e6] seconds, got {d}")))
    }
}
