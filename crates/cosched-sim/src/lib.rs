//! # cosched-sim
//!
//! A discrete-event simulator of a heterogeneous system-on-chip in virtual time, driven by the
//! same [`Policy`](cosched_core::Policy) and observation as the real executor.
//!
//! - Processors have slots (concurrent inferences), optional batching of queued same-model
//!   requests, DVFS levels and idle/busy power.
//! - Latency is sampled per inference from a lognormal with the profile's mean and coefficient
//!   of variation (cv = 0 is deterministic), scaled by batch size, frequency and DRAM
//!   contention.
//! - Energy is idle plus busy power integrated over time, per processor.
//! - Arrivals come from the workload's `poisson`, `periodic`, `mmpp`, `closed` and `trace`
//!   streams, each with its own random stream, so that two policies see the same arrivals.
//!
//! Runs are deterministic: the same inputs and seed give the same report, byte for byte.
//!
//! The simulator is also the run-time guard's instrument ([`guard`]): a policy that replays the
//! recent past under several candidate policies and hands its decisions to the best one.
//!
//! ```
//! use cosched_core::{baseline, DeviceProfile, Workload};
//! use cosched_sim::{simulate, SimConfig};
//!
//! let device = DeviceProfile::from_toml_str(r#"
//! name = "two-cpus"
//! source = "example"
//! [[processor]]
//! id = "big"
//! kind = "cpu"
//! ep = "cpu"
//! slots = 1
//! idle_power_w = 0.5
//! busy_power_w = 4.0
//! [[processor]]
//! id = "little"
//! kind = "cpu"
//! ep = "cpu"
//! slots = 1
//! idle_power_w = 0.1
//! busy_power_w = 1.0
//! [[model]]
//! name = "net"
//! memory_mb = 10.0
//! latency_ms = { big = 5.0, little = 12.0 }
//! "#, "two-cpus.toml").unwrap();
//! let workload = Workload::from_toml_str(r#"
//! name = "w"
//! duration_s = 10.0
//! [[stream]]
//! model = "net"
//! arrival = "poisson"
//! rate_hz = 150.0
//! slo_ms = 40.0
//! "#, "w.toml", None).unwrap().resolve(&device, None, "w.toml").unwrap();
//! let mut policy = baseline("earliest-finish", &device, Default::default()).unwrap();
//! let report = simulate(&device, &workload, &mut *policy, &SimConfig::with_seed(7));
//! assert_eq!(report.arrived, report.completed - report.late + report.violated);
//! ```

#![warn(missing_docs)]

mod env;
pub mod guard;
mod sim;

pub use env::{SimEnv, Step};
pub use guard::{Candidate, Guard, GuardConfig, PolicyFactory};
pub use sim::{simulate, simulate_with_progress, SimConfig, SimError, Simulator};
