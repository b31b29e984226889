//! Errors: why a request was refused ([`RequestError`], one HTTP status each) and why a server
//! could not start ([`ServeError`]). Every `Display` is one line.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use cosched_ort::SubmitError;
use thiserror::Error;

/// Why a request got no inference result. The response is the status and `{"error": "<Display>"}`.
#[derive(Debug, Error, Clone, PartialEq)]
pub enum RequestError {
    /// The model is not served here (404).
    #[error("unknown model \"{0}\"")]
    UnknownModel(String),
    /// The model has no such version (404): every model has the single version "1".
    #[error("model \"{model}\" has no version \"{version}\" (only version \"1\" is served)")]
    UnknownVersion {
        /// The model.
        model: String,
        /// The version asked for.
        version: String,
    },
    /// No such endpoint (404).
    #[error("no such endpoint: {0}")]
    NoRoute(String),
    /// The request body is not valid JSON or not an inference request (400).
    #[error("malformed request JSON: {0}")]
    Json(String),
    /// A tensor's datatype is not supported (400).
    #[error("input \"{input}\": datatype \"{datatype}\" is not supported: only FP32 tensors are served")]
    Datatype {
        /// The input.
        input: String,
        /// The datatype given.
        datatype: String,
    },
    /// A shape is invalid or does not match the data (400).
    #[error("input \"{input}\": {message}")]
    Shape {
        /// The input.
        input: String,
        /// What is wrong.
        message: String,
    },
    /// The binary-tensor extension's sizes do not add up (400).
    #[error("binary tensor data: {0}")]
    Binary(String),
    /// The inputs or outputs named do not match the model's, or a parameter is invalid (400).
    #[error("{0}")]
    Invalid(String),
    /// The executor refused the inputs (400), e.g. a shape the model does not take.
    #[error("{0}")]
    BadInput(String),
    /// The body is larger than the limit (413).
    #[error("request body larger than the limit of {limit} bytes")]
    TooLarge {
        /// The limit, bytes.
        limit: usize,
    },
    /// Too many requests in the server already (503).
    #[error("server busy: {0} inference requests in flight (the limit); retry later")]
    Busy(usize),
    /// The executor's queue is full (503).
    #[error("{0}; retry later")]
    Overloaded(String),
    /// The server is shutting down (503).
    #[error("the server is shutting down")]
    ShuttingDown,
    /// The inference ran and failed (500).
    #[error("inference failed: {0}")]
    Inference(String),
}

impl RequestError {
    /// The HTTP status of this error.
    pub fn status(&self) -> StatusCode {
        use RequestError::*;
        match self {
            UnknownModel(_) | UnknownVersion { .. } | NoRoute(_) => StatusCode::NOT_FOUND,
            Json(_) | Datatype { .. } | Shape { .. } | Binary(_) | Invalid(_) | BadInput(_) => StatusCode::BAD_REQUEST,
            TooLarge { .. } => StatusCode::PAYLOAD_TOO_LARGE,
            Busy(_) | Overloaded(_) | ShuttingDown => StatusCode::SERVICE_UNAVAILABLE,
            Inference(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    /// The label of `cosched_requests_rejected_total` for refusals caused by load, if this is one.
    pub(crate) fn rejection_reason(&self) -> Option<&'static str> {
        match self {
            RequestError::Busy(_) => Some("server_busy"),
            RequestError::Overloaded(_) => Some("queue_full"),
            RequestError::ShuttingDown => Some("shutting_down"),
            _ => None,
        }
    }
}

impl From<SubmitError> for RequestError {
    fn from(e: SubmitError) -> RequestError {
        match e {
            SubmitError::Overloaded { .. } => RequestError::Overloaded(e.to_string()),
            SubmitError::BadInput { .. } => RequestError::BadInput(e.to_string()),
            SubmitError::UnknownModel(m) => RequestError::UnknownModel(m.trim_matches('"').to_string()),
            SubmitError::Unavailable(_) => RequestError::Overloaded(e.to_string()),
            SubmitError::ShuttingDown => RequestError::ShuttingDown,
        }
    }
}

impl IntoResponse for RequestError {
    fn into_response(self) -> Response {
        let body = serde_json::json!({ "error": self.to_string() }).to_string();
        (self.status(), [("content-type", "application/json")], body).into_response()
    }
}

/// The server could not start or stopped abnormally.
#[derive(Debug, Error)]
pub enum ServeError {
    /// The listening socket could not be opened.
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        /// The address.
        addr: std::net::SocketAddr,
        /// Why.
        source: std::io::Error,
    },
    /// The async runtime could not start, or serving failed.
    #[error("HTTP runtime: {0}")]
    Runtime(std::io::Error),
    /// The executor serves no model.
    #[error("no model is loaded in the executor: nothing to serve")]
    NoModels,
    /// A model's warm-up inference failed.
    #[error("warm-up inference of model \"{model}\" failed: {message}")]
    Warmup {
        /// The model.
        model: String,
        /// Why.
        message: String,
    },
}
