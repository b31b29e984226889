//! A blocking KServe v2 REST client for one server: readiness, the extensions it lists, infer.
//! Blocking fits the executor: each processor slot already has its own worker thread.

use super::codec::{self, Encoded};
use crate::error::BackendError;
use cosched_core::RemoteSpec;
use ndarray::ArrayD;
use serde_json::Value;
use std::io::Read;
use std::time::Duration;

/// Largest response body read from a server, bytes.
const MAX_RESPONSE_BYTES: u64 = 256 << 20;

/// One server, shared by the slots of its processor (the agent pools connections).
#[derive(Clone)]
pub(crate) struct Client {
    agent: ureq::Agent,
    /// Health probes must not wait as long as an inference may.
    probe_agent: ureq::Agent,
    endpoint: String,
}

fn ms(v: f64) -> Duration {
    Duration::from_secs_f64(v.max(1.0) / 1000.0)
}

impl Client {
    pub(crate) fn new(spec: &RemoteSpec, slots: u32) -> Client {
        let agent = |timeout_ms: f64| -> ureq::Agent {
            ureq::Agent::config_builder()
                .timeout_global(Some(ms(timeout_ms)))
                .timeout_connect(Some(ms(spec.connect_timeout_ms)))
                .http_status_as_error(false)
                .no_delay(true)
                .max_idle_connections_per_host(slots as usize + 1)
                .build()
                .into()
        };
        Client {
            agent: agent(spec.timeout_ms),
            probe_agent: agent(spec.connect_timeout_ms.max(spec.timeout_ms.min(1000.0))),
            endpoint: spec.endpoint.clone(),
        }
    }

    fn unreachable(&self, e: impl std::fmt::Display) -> BackendError {
        BackendError::Unreachable {
            endpoint: self.endpoint.clone(),
            message: e.to_string(),
        }
    }

    /// `GET /v2/health/ready`: Ok when the server says it is ready.
    pub(crate) fn ready(&self) -> Result<(), BackendError> {
        let url = format!("{}/v2/health/ready", self.endpoint);
        let resp = self.probe_agent.get(&url).call().map_err(|e| self.unreachable(e))?;
        if resp.status().is_success() {
            Ok(())
        } else {
            Err(self.unreachable(format!("not ready (HTTP {})", resp.status().as_u16())))
        }
    }

    /// `GET /v2/models/{model}/ready`.
    pub(crate) fn model_ready(&self, model: &str) -> Result<(), BackendError> {
        let url = format!("{}/v2/models/{model}/ready", self.endpoint);
        let resp = self.probe_agent.get(&url).call().map_err(|e| self.unreachable(e))?;
        if resp.status().is_success() {
            Ok(())
        } else {
            Err(self.unreachable(format!(
                "model \"{model}\" is not ready (HTTP {})",
                resp.status().as_u16()
            )))
        }
    }

    /// The extensions of `GET /v2` (empty when the server lists none or the call fails).
    pub(crate) fn extensions(&self) -> Vec<String> {
        let url = format!("{}/v2", self.endpoint);
        let Ok(mut resp) = self.probe_agent.get(&url).call() else {
            return Vec::new();
        };
        if !resp.status().is_success() {
            return Vec::new();
        }
        let Ok(body) = resp.body_mut().with_config().limit(1 << 20).read_to_vec() else {
            return Vec::new();
        };
        serde_json::from_slice::<Value>(&body)
            .ok()
            .and_then(|v| {
                v.get("extensions")
                    .and_then(Value::as_array)
                    .map(|a| a.iter().filter_map(Value::as_str).map(str::to_string).collect())
            })
            .unwrap_or_default()
    }

    /// One inference of `model` on the server.
    pub(crate) fn infer(
        &self,
        model: &str,
        input_names: &[String],
        inputs: &[ArrayD<f32>],
        outputs: &[String],
        binary: bool,
    ) -> Result<Vec<ArrayD<f32>>, BackendError> {
        let url = format!("{}/v2/models/{model}/infer", self.endpoint);
        let Encoded { body, header_len } = codec::encode(input_names, inputs, outputs, binary);
        let mut req = self.agent.post(&url);
        req = match header_len {
            Some(n) => req
                .header("Content-Type", "application/octet-stream")
                .header("Inference-Header-Content-Length", n.to_string()),
            None => req.header("Content-Type", "application/json"),
        };
        let mut resp = req.send(&body[..]).map_err(|e| self.unreachable(e))?;
        let status = resp.status();
        let header_len = match resp.headers().get("inference-header-content-length") {
            None => None,
            Some(v) => Some(
                v.to_str()
                    .ok()
                    .and_then(|s| s.trim().parse::<usize>().ok())
                    .ok_or_else(|| BackendError::Server {
                        endpoint: self.endpoint.clone(),
                        status: status.as_u16(),
                        message: "Inference-Header-Content-Length is not a number".into(),
                    })?,
            ),
        };
        let mut bytes = Vec::new();
        resp.body_mut()
            .with_config()
            .limit(MAX_RESPONSE_BYTES)
            .reader()
            .read_to_end(&mut bytes)
            .map_err(|e| self.unreachable(format!("reading the response: {e}")))?;
        if !status.is_success() {
            let message = serde_json::from_slice::<Value>(&bytes)
                .ok()
                .and_then(|v| v.get("error").and_then(Value::as_str).map(str::to_string))
                .unwrap_or_else(|| String::from_utf8_lossy(&bytes[..bytes.len().min(200)]).into_owned());
            let status = status.as_u16();
            // 503 / 502 / 504: the server (or its proxy) cannot serve now, as good as down.
            if matches!(status, 502..=504) {
                return Err(self.unreachable(format!("HTTP {status}: {message}")));
            }
            return Err(BackendError::Server {
                endpoint: self.endpoint.clone(),
                status,
                message,
            });
        }
        codec::decode(&bytes, header_len, outputs).map_err(|message| BackendError::Server {
            endpoint: self.endpoint.clone(),
            status: status.as_u16(),
            message,
        })
    }
}
