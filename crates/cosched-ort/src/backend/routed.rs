//! The executor's default backend: ONNX Runtime for the board's own processors, a KServe v2
//! client for remote ones. Routing happens when a session opens, so a batch pays nothing for it.

use super::{Backend, BackendSession, OrtBackend, RemoteBackend};
use crate::error::{BackendError, ProviderError};
use crate::executor::ModelInfo;
use cosched_core::{ExecutionProviderKind, Processor, ProcessorKind};
use std::path::Path;

/// Local processors on ONNX Runtime, remote ones on their servers.
pub struct RoutedBackend {
    local: OrtBackend,
    remote: RemoteBackend,
}

impl RoutedBackend {
    /// Route between these two.
    pub fn new(local: OrtBackend, remote: RemoteBackend) -> RoutedBackend {
        RoutedBackend { local, remote }
    }

    fn is_remote(p: &Processor) -> bool {
        p.kind == ProcessorKind::Remote || p.ep == ExecutionProviderKind::Remote
    }
}

/// A one-thread CPU processor standing in for a remote one when its model file is read.
fn local_reader(p: &Processor) -> Processor {
    Processor {
        kind: ProcessorKind::Cpu,
        ep: ExecutionProviderKind::Cpu,
        threads: Some(1),
        remote: None,
        ..p.clone()
    }
}

impl Backend for RoutedBackend {
    fn provider(&self, processor: &Processor) -> Result<String, ProviderError> {
        if RoutedBackend::is_remote(processor) {
            self.remote.provider(processor)
        } else {
            self.local.provider(processor)
        }
    }

    fn probe(&self, processor: &Processor, name: &str, path: &Path) -> Result<ModelInfo, BackendError> {
        if RoutedBackend::is_remote(processor) {
            self.local.probe(&local_reader(processor), name, path)
        } else {
            self.local.probe(processor, name, path)
        }
    }

    fn open(&self, processor: &Processor, model: &ModelInfo) -> Result<Box<dyn BackendSession>, BackendError> {
        if RoutedBackend::is_remote(processor) {
            self.remote.open(processor, model)
        } else {
            self.local.open(processor, model)
        }
    }

    fn ready(&self, processor: &Processor) -> Result<(), BackendError> {
        if RoutedBackend::is_remote(processor) {
            self.remote.ready(processor)
        } else {
            self.local.ready(processor)
        }
    }
}
