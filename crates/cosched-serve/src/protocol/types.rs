//! The JSON of an inference request and response (KServe v2 `$inference_request`,
//! `$inference_response`).

use super::data::FlatData;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

/// An inference request (the JSON part, when the binary extension is used).
#[derive(Debug, Deserialize)]
pub struct InferRequest {
    /// Echoed in the response.
    #[serde(default)]
    pub id: Option<String>,
    /// Request parameters (`deadline_ms`, `priority`, `binary_data_output`, ...).
    #[serde(default)]
    pub parameters: Option<Map<String, Value>>,
    /// The inputs.
    pub inputs: Vec<RequestInput>,
    /// The outputs wanted; none: every output, in the model's order.
    #[serde(default)]
    pub outputs: Option<Vec<RequestOutput>>,
}

/// One input tensor.
#[derive(Debug, Deserialize)]
pub struct RequestInput {
    /// The model's input name.
    pub name: String,
    /// Row-major shape.
    pub shape: Vec<i64>,
    /// Only `FP32` is served.
    pub datatype: String,
    /// `binary_data_size` for the binary extension.
    #[serde(default)]
    pub parameters: Option<Map<String, Value>>,
    /// The elements (flat or nested), absent when they are binary.
    #[serde(default)]
    pub data: Option<FlatData>,
}

/// One output asked for.
#[derive(Debug, Deserialize)]
pub struct RequestOutput {
    /// The model's output name.
    pub name: String,
    /// `binary_data` (bool).
    #[serde(default)]
    pub parameters: Option<Map<String, Value>>,
}

/// An inference response (the JSON part).
#[derive(Debug, Serialize)]
pub struct InferResponse<'a> {
    /// The model.
    pub model_name: &'a str,
    /// Always "1".
    pub model_version: &'a str,
    /// The request's id, if it had one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub id: Option<&'a str>,
    /// The outputs.
    pub outputs: Vec<ResponseOutput<'a>>,
}

/// One output tensor of a response.
#[derive(Debug, Serialize)]
pub struct ResponseOutput<'a> {
    /// Output name.
    pub name: &'a str,
    /// Always `FP32`.
    pub datatype: &'static str,
    /// Row-major shape.
    pub shape: Vec<usize>,
    /// `{"binary_data_size": N}` when the data follows the JSON.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub parameters: Option<Value>,
    /// The elements as JSON numbers (f32 values written as the f64 they equal, so they read
    /// back exactly), absent when binary.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub data: Option<Vec<f64>>,
}
