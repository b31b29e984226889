//! The embedding API: a [`Scheduler`] loads a device profile and a policy once, at startup, and
//! places every submitted inference on a processor through the ONNX Runtime executor.

use crate::policies::{resolve_fine_tuned, resolve_policy_on, Clock, PolicyError};
use cosched_core::{ConfigError, DeviceProfile, ObjectiveWeights, Policy, ResolvedWorkload, RunReport};
use cosched_ort::calibrate::{calibrate, CalibrateConfig};
use cosched_ort::driver::{drive, DriveConfig};
use cosched_ort::{Backpressure, ExecError, Executor, ExecutorConfig, Inputs, ShutdownMode, SubmitError, Ticket};
use cosched_rl::FineTuneConfig;
use std::path::{Path, PathBuf};
use thiserror::Error;

/// Why a [`Scheduler`] could not be built or could not take a request.
#[derive(Debug, Error)]
pub enum Error {
    /// The device profile is missing or malformed.
    #[error(transparent)]
    Device(#[from] ConfigError),
    /// The policy is unknown, or its file is missing, corrupt or made for another device.
    #[error(transparent)]
    Policy(#[from] PolicyError),
    /// ONNX Runtime, a model or an execution provider could not be set up.
    #[error(transparent)]
    Executor(#[from] ExecError),
    /// A request was refused (no completion will come for it).
    #[error(transparent)]
    Submit(#[from] SubmitError),
    /// The builder is missing something.
    #[error("scheduler builder: {0}")]
    Builder(String),
}

enum PolicyChoice {
    Named(String),
    Custom(Box<dyn Policy>),
}

/// Builds a [`Scheduler`]; see [`Scheduler::builder`].
pub struct SchedulerBuilder {
    device: Option<DeviceProfile>,
    device_name: Option<String>,
    policy: PolicyChoice,
    objective: ObjectiveWeights,
    models_dir: PathBuf,
    models: Option<Vec<String>>,
    queue_capacity: usize,
    backpressure: Backpressure,
    ort_library: Option<PathBuf>,
    fine_tune: Option<FineTuneConfig>,
    calibrate: Option<CalibrateConfig>,
    profile_tolerance: f64,
}

impl SchedulerBuilder {
    /// The device profile: a path or a built-in name (`jetson-agx-orin`, `host-cpu`, ...).
    pub fn device(mut self, name_or_path: impl Into<String>) -> Self {
        self.device_name = Some(name_or_path.into());
        self
    }

    /// A device profile already loaded.
    pub fn device_profile(mut self, profile: DeviceProfile) -> Self {
        self.device = Some(profile);
        self
    }

    /// The policy: a baseline name, `drl` / `drl:balanced|latency|energy` for the pretrained
    /// policy of the device, or the path of a policy file. Default: `least-slack`.
    pub fn policy(mut self, name_or_path: impl Into<String>) -> Self {
        self.policy = PolicyChoice::Named(name_or_path.into());
        self
    }

    /// Keep learning online from real completions, falling back to the pretrained state when a
    /// window of completions is worse than the first (measured before anything learns) by
    /// more than `config.margin`. By default it learns each processor's real power from the
    /// energy completions report (see [`cosched_rl::finetune`]; the executor models each
    /// completion's energy from the profile's power and its measured run time, as
    /// per-completion sensor energy is not wired yet, so here it learns 1.0). Only for `drl`,
    /// `drl:<objective>` or a policy file;
    /// `config.weights` is replaced by [`SchedulerBuilder::objective`]'s.
    ///
    /// ```no_run
    /// use cosched::{FineTuneConfig, Scheduler};
    /// let scheduler = Scheduler::builder()
    ///     .device("host-cpu")
    ///     .policy("drl")
    ///     .fine_tune(FineTuneConfig::default())
    ///     .build()?;
    /// # Ok::<(), cosched::Error>(())
    /// ```
    pub fn fine_tune(mut self, config: FineTuneConfig) -> Self {
        self.fine_tune = Some(config);
        self
    }

    /// A policy of the application's own.
    pub fn custom_policy(mut self, policy: Box<dyn Policy>) -> Self {
        self.policy = PolicyChoice::Custom(policy);
        self
    }

    /// Objective weights for baselines that use them (default: balanced).
    pub fn objective(mut self, weights: ObjectiveWeights) -> Self {
        self.objective = weights;
        self
    }

    /// The folder of `<model>.onnx` files (default `models`), and optionally which of the
    /// profile's models to load (default: all).
    pub fn models(mut self, dir: impl AsRef<Path>, only: Option<Vec<String>>) -> Self {
        self.models_dir = dir.as_ref().to_path_buf();
        self.models = only;
        self
    }

    /// Requests waiting per processor before submissions are refused (or block, with
    /// [`Backpressure::Block`]).
    pub fn queue_capacity(mut self, capacity: usize, backpressure: Backpressure) -> Self {
        self.queue_capacity = capacity;
        self.backpressure = backpressure;
        self
    }

    /// An explicit libonnxruntime (default: `ORT_DYLIB_PATH`, then `third_party/onnxruntime/`).
    pub fn ort_library(mut self, path: impl AsRef<Path>) -> Self {
        self.ort_library = Some(path.as_ref().to_path_buf());
        self
    }

    /// Re-measure the profile's batch-1 latencies on this machine before starting (a few
    /// seconds; see [`cosched_ort::calibrate`]), so that decisions and deadlines follow this
    /// host's speed rather than the one the profile was measured on. The calibrated profile is
    /// [`Scheduler::device`]; write it with [`DeviceProfile::to_toml_string`] to reuse it.
    /// `config.models` defaults to the builder's models.
    pub fn calibrate(mut self, config: CalibrateConfig) -> Self {
        self.calibrate = Some(config);
        self
    }

    /// Measured/profile service-time ratio past which the executor warns (once, through
    /// `tracing`) that the profile does not fit this machine. Default 1.3.
    pub fn profile_tolerance(mut self, factor: f64) -> Self {
        self.profile_tolerance = factor;
        self
    }

    /// Load the profile and the policy, open the ONNX Runtime sessions and start the workers.
    pub fn build(self) -> Result<Scheduler, Error> {
        let mut device = match (self.device, self.device_name) {
            (Some(d), _) => d,
            (None, Some(name)) => DeviceProfile::load(&name)?,
            (None, None) => {
                return Err(Error::Builder(
                    "no device: call .device(\"host-cpu\") or similar".into(),
                ))
            }
        };
        if !(self.profile_tolerance.is_finite() && self.profile_tolerance > 1.0) {
            return Err(Error::Builder(format!(
                "profile_tolerance must be > 1, got {}",
                self.profile_tolerance
            )));
        }
        if let Some(cfg) = self.calibrate {
            let cfg = CalibrateConfig {
                models: cfg.models.or_else(|| self.models.clone()),
                ort_library: cfg.ort_library.or_else(|| self.ort_library.clone()),
                ..cfg
            };
            device = calibrate(&device, &self.models_dir, &cfg, &mut |_| {})?.profile;
        }
        let policy = match (self.policy, self.fine_tune) {
            (PolicyChoice::Custom(p), None) => p,
            (PolicyChoice::Custom(_), Some(_)) => {
                return Err(Error::Builder(
                    "fine_tune applies to DRL policies chosen with .policy(..), not to a custom policy".into(),
                ))
            }
            (PolicyChoice::Named(name), None) => resolve_policy_on(&name, &device, self.objective, Clock::Wall)?,
            (PolicyChoice::Named(name), Some(cfg)) => Box::new(resolve_fine_tuned(
                &name,
                &device,
                FineTuneConfig {
                    weights: self.objective,
                    ..cfg
                },
            )?),
        };
        let policy_name = policy.name().to_string();
        let config = ExecutorConfig {
            models: self.models,
            queue_capacity: self.queue_capacity,
            backpressure: self.backpressure,
            ort_library: self.ort_library,
            profile_tolerance: self.profile_tolerance,
            ..ExecutorConfig::new(policy)
        };
        let executor = Executor::new(&device, &self.models_dir, config)?;
        Ok(Scheduler { executor, policy_name })
    }
}

/// A running scheduler: submit inferences by model name, each gets exactly one completion.
///
/// ```no_run
/// use cosched::Scheduler;
///
/// let scheduler = Scheduler::builder()
///     .device("host-cpu")
///     .policy("least-slack")
///     .models("models", Some(vec!["squeezenet".into()]))
///     .build()?;
/// let inputs = scheduler.random_inputs("squeezenet").expect("loaded");
/// let done = scheduler.submit("squeezenet", inputs)?.wait();
/// println!("{:.2} ms on {:?}", done.latency_ms(), done.processor);
/// scheduler.shutdown();
/// # Ok::<(), cosched::Error>(())
/// ```
pub struct Scheduler {
    executor: Executor,
    policy_name: String,
}

impl Scheduler {
    /// A builder with defaults: policy `least-slack`, models from `models/`, queues of 256.
    pub fn builder() -> SchedulerBuilder {
        SchedulerBuilder {
            device: None,
            device_name: None,
            policy: PolicyChoice::Named("least-slack".into()),
            objective: ObjectiveWeights::BALANCED,
            models_dir: PathBuf::from("models"),
            models: None,
            queue_capacity: 256,
            backpressure: Backpressure::Reject,
            ort_library: None,
            fine_tune: None,
            calibrate: None,
            profile_tolerance: 1.3,
        }
    }

    /// Submit one inference of `model` (a name in the device profile).
    pub fn submit(&self, model: &str, inputs: Inputs) -> Result<Ticket, Error> {
        let id = self
            .executor
            .device()
            .model_id(model)
            .ok_or_else(|| SubmitError::UnknownModel(model.to_string()))?;
        Ok(self.executor.submit(id, inputs)?)
    }

    /// Random inputs of the right shape for `model` (for tests and warm-up).
    pub fn random_inputs(&self, model: &str) -> Option<Inputs> {
        let id = self.executor.device().model_id(model)?;
        Some(self.executor.model(id)?.random_inputs(&mut rand::rng()))
    }

    /// The device profile in use (the calibrated one after [`SchedulerBuilder::calibrate`]).
    pub fn device(&self) -> &DeviceProfile {
        self.executor.device()
    }

    /// Play `workload` (resolved against [`Scheduler::device`]) on the wall clock with the
    /// simulator's arrivals for `config.seed`, random inputs of each model, and return the run
    /// report (mode `real`, with the measured/profile ratios). Closed-loop streams keep their
    /// requests outstanding for the whole arrival window. The scheduler is shut down at the end:
    /// requests still queued after the drain window are cancelled and counted unfinished.
    pub fn run_workload(mut self, workload: &ResolvedWorkload, config: &DriveConfig) -> RunReport {
        use rand::SeedableRng;
        let mut rng = rand::rngs::StdRng::seed_from_u64(config.seed);
        let inputs: Vec<Option<Inputs>> = (0..self.executor.device().models.len())
            .map(|m| {
                self.executor
                    .model(cosched_core::ModelId(m as u16))
                    .map(|i| i.random_inputs(&mut rng))
            })
            .collect();
        let device = self.executor.device().clone();
        let run = drive(&mut self.executor, workload, &inputs, config, &mut |_| {});
        run.report(&self.policy_name, &device, workload, config, None)
    }

    /// The executor underneath (statistics, processor status, estimates).
    pub fn executor(&self) -> &Executor {
        &self.executor
    }

    /// Run every accepted request to completion, then stop the workers.
    pub fn shutdown(mut self) {
        self.executor.shutdown(ShutdownMode::Drain);
    }
}
