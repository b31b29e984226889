//! The executor: per-processor queues in front of one worker thread per processor slot.
//!
//! The scheduler side is the core [`Dispatcher`], the same state machine `cosched-sim` drives:
//! one queue per processor (FIFO or least slack first, as the policy asks), requests placed by
//! [`Policy::decide`] on its [`Observation`], and a slot that frees up takes the head of its
//! processor's queue plus the same-model requests behind it, up to `max_batch`. The executor
//! is its host (`host.rs`): it passes the wall clock in, leaves out the processors that are
//! down, and hands the batches the dispatcher starts to the slots' workers.
//!
//! Each slot's worker thread owns one session of the [`Backend`](crate::backend::Backend) per
//! model (an ONNX Runtime session by default, whose `run` takes `&mut self`) and receives work
//! through a bounded channel. Completions update the estimator, are fed to [`Policy::observe`],
//! and are delivered exactly once to the submitter.
//!
//! [`Policy::decide`]: cosched_core::Policy::decide
//! [`Policy::observe`]: cosched_core::Policy::observe
//! [`Observation`]: cosched_core::Observation
//! [`Dispatcher`]: cosched_core::Dispatcher

mod clock;
mod completion;
mod config;
mod failover;
mod finish;
mod handle;
mod health;
mod host;
mod model;
mod request;
mod shared;
mod shutdown;
mod spin;
mod startup;
mod stats;
mod submit;
mod timer;
mod worker;

pub use clock::ManualClock;
pub use completion::{Completion, Reply, Ticket};
pub use config::{Backpressure, ExecutorConfig, Fault, ShutdownMode};
pub use handle::Executor;
pub use model::{Inputs, ModelInfo};
pub(crate) use request::Req;
pub use stats::{ExecStats, ProcessorLoad, ProcessorStatus, UsageSnapshot};
pub(crate) use submit::Submitter;
