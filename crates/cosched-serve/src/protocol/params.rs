//! Request parameters this server acts on.

use crate::error::RequestError;
use serde_json::{Map, Value};

/// Largest `deadline_ms` accepted (one day).
pub const MAX_DEADLINE_MS: f64 = 86_400_000.0;

/// What the request-level `parameters` ask for.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct RequestParams {
    /// `deadline_ms`: the request's deadline relative to its arrival, ms (default: the model's).
    pub deadline_ms: Option<f64>,
    /// `priority`: 0..=65535, carried to the executor as the request's stream id.
    pub priority: u16,
    /// `binary_data_output`: outputs not asked for otherwise come back binary.
    pub binary_data_output: bool,
}

impl RequestParams {
    /// Read the parameters; unknown ones are ignored (Triton's clients send some of their own),
    /// ones that change what a response means (`classification`) are refused.
    pub fn parse(params: Option<&Map<String, Value>>) -> Result<RequestParams, RequestError> {
        let mut out = RequestParams::default();
        let Some(params) = params else { return Ok(out) };
        if let Some(v) = params.get("deadline_ms") {
            let ms = v
                .as_f64()
                .filter(|ms| ms.is_finite() && *ms > 0.0 && *ms <= MAX_DEADLINE_MS);
            out.deadline_ms = Some(ms.ok_or_else(|| {
                RequestError::Invalid(format!(
                    "parameter deadline_ms: must be a number of ms in (0, {MAX_DEADLINE_MS}], got {v}"
                ))
            })?);
        }
        if let Some(v) = params.get("priority") {
            out.priority = v.as_u64().and_then(|p| u16::try_from(p).ok()).ok_or_else(|| {
                RequestError::Invalid(format!("parameter priority: must be an integer 0..=65535, got {v}"))
            })?;
        }
        if let Some(v) = params.get("binary_data_output") {
            out.binary_data_output = flag("binary_data_output", v)?;
        }
        Ok(out)
    }
}

/// A boolean parameter.
pub(crate) fn flag(name: &str, v: &Value) -> Result<bool, RequestError> {
    v.as_bool()
        .ok_or_else(|| RequestError::Invalid(format!("parameter {name}: must be true or false, got {v}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(json: &str) -> Result<RequestParams, RequestError> {
        let m: Map<String, Value> = serde_json::from_str(json).unwrap();
        RequestParams::parse(Some(&m))
    }

    #[test]
    fn deadline_priority_and_binary_output_are_read_and_checked() {
        let p = parse(r#"{"deadline_ms": 25.5, "priority": 3, "binary_data_output": true, "x": 1}"#).unwrap();
        assert_eq!(p.deadline_ms, Some(25.5));
        assert_eq!(p.priority, 3);
        assert!(p.binary_data_output);
        assert_eq!(RequestParams::parse(None).unwrap(), RequestParams::default());
        for bad in [
            r#"{"deadline_ms": -1}"#,
            r#"{"deadline_ms": "5"}"#,
            r#"{"deadline_ms": 1e300}"#,
            r#"{"priority": 70000}"#,
            r#"{"priority": -1}"#,
            r#"{"binary_data_output": 1}"#,
        ] {
            let e = parse(bad).unwrap_err();
            assert!(matches!(e, RequestError::Invalid(_)), "{bad}: {e}");
        }
    }
}
