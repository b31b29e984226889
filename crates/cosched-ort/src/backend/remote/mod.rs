//! Remote processors: a KServe v2 server (Triton, KServe, MLServer) as one more processor. Each
//! slot of the processor is one request in flight to the server; the model's description comes
//! from the local ONNX file, so that a request is checked and encoded the same way whichever
//! processor runs it.

mod client;
mod codec;

use self::client::Client;
use super::{Backend, BackendSession, Batch};
use crate::error::{BackendError, ProviderError};
use crate::executor::ModelInfo;
use cosched_core::{Processor, RemoteProtocol, RemoteSpec};
use ndarray::ArrayD;
use std::collections::HashMap;
use std::path::Path;
use std::sync::Mutex;

/// The extension a server lists in `GET /v2` when it takes binary tensors.
const BINARY_EXTENSION: &str = "binary_tensor_data";

/// Talks KServe v2 REST to the servers of a profile's remote processors.
#[derive(Default)]
pub struct RemoteBackend {
    /// One client per processor id; a client's agent pools the slots' connections.
    clients: Mutex<HashMap<String, Client>>,
}

impl RemoteBackend {
    /// A backend with no connection yet.
    pub fn new() -> RemoteBackend {
        RemoteBackend::default()
    }

    fn spec(processor: &Processor) -> Result<&RemoteSpec, ProviderError> {
        processor.remote.as_ref().ok_or(ProviderError::NotRemote)
    }

    fn client(&self, processor: &Processor) -> Result<Client, ProviderError> {
        let spec = RemoteBackend::spec(processor)?;
        let mut clients = self.clients.lock().unwrap_or_else(|e| e.into_inner());
        Ok(clients
            .entry(processor.id.clone())
            .or_insert_with(|| Client::new(spec, processor.slots))
            .clone())
    }
}

impl Backend for RemoteBackend {
    fn provider(&self, processor: &Processor) -> Result<String, ProviderError> {
        Ok(format!("KServe v2 at {}", RemoteBackend::spec(processor)?.endpoint))
    }

    /// Remote processors are described by the local file (see the module docs): only a
    /// [`RoutedBackend`](super::RoutedBackend) probes them, through its local backend.
    fn probe(&self, processor: &Processor, _name: &str, _path: &Path) -> Result<ModelInfo, BackendError> {
        Err(ProviderError::Session(format!(
            "processor \"{}\" is remote: its models are described by the local ONNX files",
            processor.id
        ))
        .into())
    }

    fn open(&self, processor: &Processor, model: &ModelInfo) -> Result<Box<dyn BackendSession>, BackendError> {
        let spec = RemoteBackend::spec(processor)?;
        Ok(Box::new(RemoteSession {
            client: self.client(processor)?,
            model: spec.server_model(&model.name).to_string(),
            inputs: model.inputs.iter().map(|(n, _)| n.clone()).collect(),
            outputs: model.outputs.clone(),
            binary: match spec.protocol {
                RemoteProtocol::Auto => None,
                RemoteProtocol::Json => Some(false),
                RemoteProtocol::Binary => Some(true),
            },
        }))
    }

    fn ready(&self, processor: &Processor) -> Result<(), BackendError> {
        self.client(processor)?.ready()
    }
}

/// One model on one server, for one slot.
struct RemoteSession {
    client: Client,
    /// The server's name of the model.
    model: String,
    inputs: Vec<String>,
    outputs: Vec<String>,
    /// Binary tensors or JSON; `None` until the server's extensions have been read.
    binary: Option<bool>,
}

impl BackendSession for RemoteSession {
    fn run(&mut self, batch: Batch<'_>) -> Result<Vec<Vec<ArrayD<f32>>>, BackendError> {
        let binary = match self.binary {
            Some(b) => b,
            None => {
                self.client.model_ready(&self.model)?;
                let b = self.client.extensions().iter().any(|e| e == BINARY_EXTENSION);
                self.binary = Some(b);
                b
            }
        };
        // A remote processor's max_batch is usually 1; a larger batch goes as sequential
        // requests, which keeps every server's batching (and shape rules) its own business.
        batch
            .iter()
            .map(|inputs| {
                self.client
                    .infer(&self.model, &self.inputs, inputs, &self.outputs, binary)
            })
            .collect()
    }
}
