//! What every handler shares.

use crate::error::RequestError;
use crate::metrics::Metrics;
use crate::model::ServedModel;
use crate::protocol::Limits;
use cosched_ort::Executor;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use tokio::sync::Semaphore;

/// The executor, the models it serves, limits and counters.
pub(crate) struct AppState {
    pub(crate) exec: Arc<Executor>,
    pub(crate) models: Vec<ServedModel>,
    pub(crate) limits: Limits,
    pub(crate) max_in_flight: usize,
    pub(crate) permits: Arc<Semaphore>,
    pub(crate) metrics: Metrics,
    /// Set when the server stops taking requests.
    pub(crate) stopping: AtomicBool,
}

impl AppState {
    /// The model `name` at `version` (none: the only one, "1").
    pub(crate) fn model(&self, name: &str, version: Option<&str>) -> Result<&ServedModel, RequestError> {
        let m = self
            .models
            .iter()
            .find(|m| m.name() == name)
            .ok_or_else(|| RequestError::UnknownModel(name.to_string()))?;
        match version {
            None | Some("1") | Some("") => Ok(m),
            Some(v) => Err(RequestError::UnknownVersion {
                model: name.to_string(),
                version: v.to_string(),
            }),
        }
    }

    pub(crate) fn in_flight(&self) -> usize {
        self.max_in_flight - self.permits.available_permits()
    }

    pub(crate) fn stopping(&self) -> bool {
        self.stopping.load(Ordering::SeqCst)
    }
}
