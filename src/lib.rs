//! # cosched
//!
//! Co-scheduling of concurrent DNN inferences over the CPU, GPU and NPU/DLA of a Jetson- or
//! Android-class board. This facade re-exports the pieces an application needs:
//!
//! - [`core`]: device profiles, workloads, the [`Policy`] trait, baseline policies, metrics;
//! - [`sim`]: the discrete-event simulator and its reinforcement-learning environment;
//! - [`rl`]: the DRL agent, training, policy files;
//! - [`ort`]: the ONNX Runtime executor;
//! - [`Scheduler`]: the embedding API (device profile + policy at startup, then `submit`);
//! - [`resolve_policy`]: baseline names, `drl[:objective]` (pretrained, compiled in from
//!   `policies/`) and policy files, learned policies under the run-time guard unless
//!   `unguarded:` (on the wall clock: [`policies::resolve_policy_on`] with
//!   [`policies::Clock::Wall`]).
//!
//! ```
//! use cosched::{baseline, DeviceProfile, Workload, sim::{simulate, SimConfig}};
//!
//! let device = DeviceProfile::builtin("jetson-agx-orin").unwrap();
//! let workload = Workload::builtin("camera-pipeline").unwrap()
//!     .resolve(&device, Some(0.5), "camera-pipeline").unwrap();
//! let mut policy = baseline("least-slack", &device, Default::default()).unwrap();
//! let report = simulate(&device, &workload, &mut *policy, &SimConfig::with_seed(1));
//! assert!(report.completed > 0);
//! ```

pub mod policies;
mod scheduler;

pub use cosched_core as core;
pub use cosched_core::*;
pub use cosched_ort as ort;
pub use cosched_rl as rl;
pub use cosched_rl::FineTuneConfig;
pub use cosched_sim as sim;
pub use policies::{resolve_fine_tuned, resolve_policy, PolicyError};
pub use scheduler::{Error, Scheduler, SchedulerBuilder};
