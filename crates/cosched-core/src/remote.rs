//! A processor that is an inference server elsewhere (Triton, KServe, MLServer), reached over the
//! KServe v2 REST protocol: where it is and how to talk to it, as a device profile gives it.

use crate::error::{positive, ConfigError};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// How request tensors travel to a remote server.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum RemoteProtocol {
    /// Triton's binary tensor extension when the server lists `binary_tensor_data` among its
    /// extensions (`GET /v2`), JSON otherwise.
    #[default]
    Auto,
    /// JSON tensors (what every KServe v2 server accepts; MLServer accepts nothing else).
    Json,
    /// Triton's binary tensor extension.
    Binary,
}

/// Where a remote processor is and how to reach it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RemoteSpec {
    /// Base URL of the server, `http://host:port` with an optional path prefix, no trailing `/`.
    pub endpoint: String,
    /// The server's name of a model where it differs from the profile's (profile name -> server
    /// name).
    pub models: BTreeMap<String, String>,
    /// How long one inference may take, round trip included, before the server counts as down
    /// for this request, ms.
    pub timeout_ms: f64,
    /// How long a connection attempt may take, ms.
    pub connect_timeout_ms: f64,
    /// How often a server marked down is asked whether it is ready again, ms.
    pub probe_interval_ms: f64,
    /// Tensor encoding.
    pub protocol: RemoteProtocol,
}

impl RemoteSpec {
    /// Default [`RemoteSpec::timeout_ms`].
    pub const DEFAULT_TIMEOUT_MS: f64 = 1000.0;
    /// Default [`RemoteSpec::connect_timeout_ms`].
    pub const DEFAULT_CONNECT_TIMEOUT_MS: f64 = 200.0;
    /// Default [`RemoteSpec::probe_interval_ms`].
    pub const DEFAULT_PROBE_INTERVAL_MS: f64 = 500.0;

    /// The server's name of the profile's model `model`.
    pub fn server_model<'a>(&'a self, model: &'a str) -> &'a str {
        self.models.get(model).map_or(model, String::as_str)
    }

    /// `host:port` of the endpoint.
    pub fn authority(&self) -> &str {
        let rest = self.endpoint.strip_prefix("http://").unwrap_or(&self.endpoint);
        rest.split('/').next().unwrap_or(rest)
    }
}

/// The processor fields of a remote server, as written in a profile (fields of the processor's
/// table: serde's `flatten` cannot be combined with `deny_unknown_fields`).
#[derive(Debug, Default)]
pub(crate) struct RawRemote {
    pub(crate) endpoint: Option<String>,
    pub(crate) remote_models: BTreeMap<String, String>,
    pub(crate) timeout_ms: Option<f64>,
    pub(crate) connect_timeout_ms: Option<f64>,
    pub(crate) probe_interval_ms: Option<f64>,
    pub(crate) protocol: Option<String>,
}

impl RawRemote {
    pub(crate) fn from_spec(spec: Option<&RemoteSpec>) -> RawRemote {
        let Some(s) = spec else { return RawRemote::default() };
        RawRemote {
            endpoint: Some(s.endpoint.clone()),
            remote_models: s.models.clone(),
            timeout_ms: Some(s.timeout_ms),
            connect_timeout_ms: Some(s.connect_timeout_ms),
            probe_interval_ms: Some(s.probe_interval_ms),
            protocol: Some(
                match s.protocol {
                    RemoteProtocol::Auto => "auto",
                    RemoteProtocol::Json => "json",
                    RemoteProtocol::Binary => "binary",
                }
                .to_string(),
            ),
        }
    }

    fn is_empty(&self) -> bool {
        self.endpoint.is_none()
            && self.remote_models.is_empty()
            && self.timeout_ms.is_none()
            && self.connect_timeout_ms.is_none()
            && self.probe_interval_ms.is_none()
            && self.protocol.is_none()
    }

    /// The spec of a processor; `remote` says whether the processor is one (kind or ep
    /// `remote`). `f` names a field for errors.
    pub(crate) fn validate(
        self,
        file: &str,
        remote: bool,
        f: impl Fn(&str) -> String,
    ) -> Result<Option<RemoteSpec>, ConfigError> {
        if !remote {
            if self.is_empty() {
                return Ok(None);
            }
            return Err(ConfigError::invalid(
                file,
                f("endpoint"),
                "remote settings on a processor that is not remote (kind and ep \"remote\")",
            ));
        }
        let endpoint = self.endpoint.ok_or_else(|| {
            ConfigError::invalid(
                file,
                f("endpoint"),
                "missing: a remote processor needs the server's URL, e.g. endpoint = \"http://10.0.0.2:8000\"",
            )
        })?;
        let endpoint = check_endpoint(&endpoint).map_err(|why| ConfigError::invalid(file, f("endpoint"), why))?;
        let ms = |name: &str, v: Option<f64>, default: f64| match v {
            Some(v) => positive(file, &f(name), v),
            None => Ok(default),
        };
        let protocol = match self.protocol.as_deref() {
            None | Some("auto") => RemoteProtocol::Auto,
            Some("json") => RemoteProtocol::Json,
            Some("binary") => RemoteProtocol::Binary,
            Some(other) => {
                return Err(ConfigError::invalid(
                    file,
                    f("protocol"),
                    format!("unknown value \"{other}\" (expected one of: auto, json, binary)"),
                ))
            }
        };
        for (local, server) in &self.remote_models {
            if server.trim().is_empty() || server.contains('/') {
                return Err(ConfigError::invalid(
                    file,
                    f(&format!("remote_models.{local}")),
                    format!("\"{server}\" is not a model name"),
                ));
            }
        }
        Ok(Some(RemoteSpec {
            endpoint,
            models: self.remote_models,
            timeout_ms: ms("timeout_ms", self.timeout_ms, RemoteSpec::DEFAULT_TIMEOUT_MS)?,
            connect_timeout_ms: ms(
                "connect_timeout_ms",
                self.connect_timeout_ms,
                RemoteSpec::DEFAULT_CONNECT_TIMEOUT_MS,
            )?,
            probe_interval_ms: ms(
                "probe_interval_ms",
                self.probe_interval_ms,
                RemoteSpec::DEFAULT_PROBE_INTERVAL_MS,
            )?,
            protocol,
        }))
    }
}

/// `http://host:port[/prefix]` without a trailing slash, or why not.
fn check_endpoint(url: &str) -> Result<String, String> {
    let Some(rest) = url.strip_prefix("http://") else {
        return Err(if url.starts_with("https://") {
            format!("\"{url}\": https is not supported (put a TLS-terminating proxy on the board's side, or use http on a private network)")
        } else {
            format!("\"{url}\" is not an http:// URL")
        });
    };
    let authority = rest.split('/').next().unwrap_or("");
    let (host, port) = authority
        .rsplit_once(':')
        .ok_or_else(|| format!("\"{url}\" has no port (e.g. http://host:8000)"))?;
    if host.is_empty() {
        return Err(format!("\"{url}\" has no host"));
    }
    if port.parse::<u16>().map_or(true, |p| p == 0) {
        return Err(format!("\"{url}\": \"{port}\" is not a port"));
    }
    Ok(url.trim_end_matches('/').to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn endpoints() {
        assert_eq!(
            check_endpoint("http://127.0.0.1:8000/").unwrap(),
            "http://127.0.0.1:8000"
        );
        assert_eq!(check_endpoint("http://h:1/kserve").unwrap(), "http://h:1/kserve");
        assert!(check_endpoint("https://h:1").unwrap_err().contains("https"));
        assert!(check_endpoint("h:1").unwrap_err().contains("not an http"));
        assert!(check_endpoint("http://h").unwrap_err().contains("no port"));
        assert!(check_endpoint("http://h:0").unwrap_err().contains("not a port"));
        assert!(check_endpoint("http://:80").unwrap_err().contains("no host"));
    }
}
