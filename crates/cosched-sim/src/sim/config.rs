//! The settings of a simulated run.

use cosched_core::{DeviceProfile, LatencyEstimator, ObjectiveWeights};
use std::sync::Arc;
use thiserror::Error;

/// Settings of one simulated run.
#[derive(Debug, Clone)]
pub struct SimConfig {
    /// Seed of every random stream of the run.
    pub seed: u64,
    /// Objective weights of the report (and of the environment's reward).
    pub weights: ObjectiveWeights,
    /// DVFS level per processor (index into its `dvfs_mhz`); empty = highest frequency everywhere.
    pub dvfs_levels: Vec<usize>,
    /// Weight of a new observation in the online latency estimator.
    pub estimator_alpha: f64,
    /// How long after the arrival window the run goes on to let queues drain, ms. `None`:
    /// twice the largest deadline, at least one second.
    pub drain_ms: Option<f64>,
    /// The board as it really is, when it differs from the profile the scheduler believes
    /// (same processors and models, other numbers): service times and energy come from it,
    /// estimates and observations from the profile. Used to test robustness and fine-tuning.
    pub true_device: Option<Arc<DeviceProfile>>,
}

impl SimConfig {
    /// Defaults with this seed.
    pub fn with_seed(seed: u64) -> SimConfig {
        SimConfig {
            seed,
            weights: ObjectiveWeights::BALANCED,
            dvfs_levels: Vec::new(),
            estimator_alpha: LatencyEstimator::DEFAULT_ALPHA,
            drain_ms: None,
            true_device: None,
        }
    }
}

impl Default for SimConfig {
    fn default() -> Self {
        SimConfig::with_seed(0)
    }
}

/// A simulator setting that does not fit the device.
#[derive(Debug, Error, PartialEq)]
pub enum SimError {
    /// The true device has another shape than the profile.
    #[error("true device \"{0}\" does not have the same processors and models as the profile")]
    TrueDeviceMismatch(String),
}
