//! # cosched-serve
//!
//! A KServe v2 (Open Inference Protocol) REST server in front of the cosched
//! [`Executor`](cosched_ort::Executor), with Triton's binary-tensor, model-configuration and
//! statistics extensions, so that Triton's clients (tritonclient, perf_analyzer) and MLPerf
//! LoadGen harnesses talk to it unmodified. See `docs/serve.md`.
//!
//! - [`protocol`]: the wire format (JSON types, binary tensors, limits), independent of HTTP.
//! - [`RequestError`]: why a request was refused, as an HTTP status and `{"error": "..."}`.
//! - [`Server`]: bind, serve (TCP_NODELAY on every connection), drain on stop or SIGTERM.
//!
//! ```no_run
//! # fn f(executor: cosched_ort::Executor) -> Result<(), cosched_serve::ServeError> {
//! let server = cosched_serve::Server::bind(executor, cosched_serve::ServeConfig::default())?;
//! println!("serving on http://{}", server.local_addr());
//! server.run()?; // until SIGTERM / Ctrl-C (or a StopHandle), then drains
//! # Ok(()) }
//! ```

#![warn(missing_docs)]

mod config;
mod error;
mod metrics;
mod model;
pub mod protocol;
mod routes;
mod server;
mod state;
mod stats;

pub use config::ServeConfig;
pub use error::{RequestError, ServeError};
pub use server::{ServeSummary, Server, StopHandle};
