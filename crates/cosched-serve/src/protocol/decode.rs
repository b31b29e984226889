//! An inference request body -> batch-1 f32 inputs in the model's order and the outputs wanted.

use super::binary::{f32s_from_le, split_body};
use super::limits::Limits;
use super::params::{flag, RequestParams};
use super::types::InferRequest;
use crate::error::RequestError;
use ndarray::{ArrayD, IxDyn};

/// What a model takes and gives, as the decoder needs it.
#[derive(Debug, Clone, Copy)]
pub struct ModelSignature<'a> {
    /// Input names in the model's order (shapes are checked by the executor).
    pub inputs: &'a [(String, Vec<i64>)],
    /// Output names in the model's order.
    pub outputs: &'a [String],
}

/// One output to return.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RequestedOutput {
    /// Its index in the model's outputs.
    pub index: usize,
    /// Return it as binary data after the JSON.
    pub binary: bool,
}

/// A decoded request.
#[derive(Debug)]
pub struct Decoded {
    /// The request's id.
    pub id: Option<String>,
    /// Its parameters.
    pub params: RequestParams,
    /// The inputs in the model's input order.
    pub inputs: Vec<ArrayD<f32>>,
    /// The outputs to return, in the order to return them.
    pub outputs: Vec<RequestedOutput>,
}

impl Decoded {
    /// Whether any output goes back binary (the response then has a binary part).
    pub fn any_binary(&self) -> bool {
        self.outputs.iter().any(|o| o.binary)
    }
}

/// Decode `body` (with the value of `Inference-Header-Content-Length`, if any) for `model`.
/// Every size is checked against `limits` and the body before anything is allocated for it.
pub fn decode_request(
    header_length: Option<&str>,
    body: &[u8],
    model: ModelSignature<'_>,
    limits: &Limits,
) -> Result<Decoded, RequestError> {
    let (json, binary) = split_body(header_length, body)?;
    let req: InferRequest = serde_json::from_slice(json).map_err(|e| RequestError::Json(e.to_string()))?;
    let params = RequestParams::parse(req.parameters.as_ref())?;
    let mut inputs: Vec<Option<ArrayD<f32>>> = vec![None; model.inputs.len()];
    let mut offset = 0usize;
    for input in req.inputs {
        let name = input.name;
        let Some(index) = model.inputs.iter().position(|(n, _)| *n == name) else {
            return Err(RequestError::Invalid(format!(
                "unknown input \"{name}\"; the model's inputs: {}",
                names(model.inputs.iter().map(|(n, _)| n))
            )));
        };
        if inputs[index].is_some() {
            return Err(RequestError::Invalid(format!("input \"{name}\" is given twice")));
        }
        if input.datatype != "FP32" {
            return Err(RequestError::Datatype {
                input: name,
                datatype: input.datatype,
            });
        }
        let shape_err = |message: String| RequestError::Shape {
            input: name.clone(),
            message,
        };
        let elements = limits.elements(&input.shape).map_err(shape_err)?;
        let binary_size = match input.parameters.as_ref().and_then(|p| p.get("binary_data_size")) {
            None => None,
            Some(v) => Some(v.as_u64().ok_or_else(|| {
                RequestError::Binary(format!(
                    "input \"{name}\": binary_data_size must be a byte count, got {v}"
                ))
            })?),
        };
        let values = match (binary_size, input.data) {
            (Some(_), Some(_)) => {
                return Err(RequestError::Invalid(format!(
                    "input \"{name}\" has both data and binary_data_size"
                )))
            }
            (None, None) => {
                return Err(RequestError::Invalid(format!(
                    "input \"{name}\" has neither data nor binary_data_size"
                )))
            }
            (Some(size), None) => {
                if header_length.is_none() {
                    return Err(RequestError::Binary(format!(
                        "input \"{name}\" has binary_data_size but the request has no Inference-Header-Content-Length header"
                    )));
                }
                let expected = elements as u64 * 4;
                if size != expected {
                    return Err(RequestError::Binary(format!(
                        "input \"{name}\": binary_data_size {size} does not match shape {:?} of FP32 ({expected} bytes)",
                        input.shape
                    )));
                }
                let left = binary.len() - offset;
                if size > left as u64 {
                    return Err(RequestError::Binary(format!(
                        "input \"{name}\": binary_data_size {size} goes past the end of the body ({left} bytes of binary data left)"
                    )));
                }
                let bytes = &binary[offset..offset + size as usize];
                offset += size as usize;
                f32s_from_le(bytes)
            }
            (None, Some(data)) => {
                if data.non_numeric > 0 {
                    return Err(shape_err(format!(
                        "data has {} elements that are not numbers (FP32 data must be numbers)",
                        data.non_numeric
                    )));
                }
                if data.values.len() != elements {
                    return Err(shape_err(format!(
                        "shape {:?} has {elements} elements but data has {}",
                        input.shape,
                        data.values.len()
                    )));
                }
                data.values
            }
        };
        let dims: Vec<usize> = input.shape.iter().map(|&d| d as usize).collect();
        let array = ArrayD::from_shape_vec(IxDyn(&dims), values).map_err(|e| RequestError::Shape {
            input: name.clone(),
            message: e.to_string(),
        })?;
        inputs[index] = Some(array);
    }
    if offset != binary.len() {
        return Err(RequestError::Binary(format!(
            "{} bytes of binary data follow the JSON but the inputs' binary_data_size add up to {offset}",
            binary.len()
        )));
    }
    let missing: Vec<&String> = model
        .inputs
        .iter()
        .zip(&inputs)
        .filter(|(_, a)| a.is_none())
        .map(|((n, _), _)| n)
        .collect();
    if !missing.is_empty() {
        return Err(RequestError::Invalid(format!("missing input(s) {}", names(missing))));
    }
    let outputs = match req.outputs {
        None => (0..model.outputs.len())
            .map(|index| RequestedOutput {
                index,
                binary: params.binary_data_output,
            })
            .collect(),
        Some(wanted) => {
            let mut out: Vec<RequestedOutput> = Vec::with_capacity(wanted.len().min(model.outputs.len()));
            for o in wanted {
                let Some(index) = model.outputs.iter().position(|n| *n == o.name) else {
                    return Err(RequestError::Invalid(format!(
                        "unknown output \"{}\"; the model's outputs: {}",
                        o.name,
                        names(model.outputs)
                    )));
                };
                if out.iter().any(|r| r.index == index) {
                    return Err(RequestError::Invalid(format!(
                        "output \"{}\" is asked for twice",
                        o.name
                    )));
                }
                let p = o.parameters.as_ref();
                if p.is_some_and(|p| p.contains_key("classification")) {
                    return Err(RequestError::Invalid(format!(
                        "output \"{}\": the classification extension is not supported",
                        o.name
                    )));
                }
                let binary = match p.and_then(|p| p.get("binary_data")) {
                    Some(v) => flag("binary_data", v)?,
                    None => params.binary_data_output,
                };
                out.push(RequestedOutput { index, binary });
            }
            out
        }
    };
    Ok(Decoded {
        id: req.id,
        params,
        inputs: inputs.into_iter().map(|a| a.expect("checked above")).collect(),
        outputs,
    })
}

fn names<S: AsRef<str>>(it: impl IntoIterator<Item = S>) -> String {
    it.into_iter()
        .map(|s| format!("\"{}\"", s.as_ref()))
        .collect::<Vec<_>>()
        .join(", ")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sig() -> (Vec<(String, Vec<i64>)>, Vec<String>) {
        (vec![("input".into(), vec![-1, 2])], vec!["output".into()])
    }

    fn decode(header: Option<&str>, body: &[u8]) -> Result<Decoded, RequestError> {
        let (i, o) = sig();
        let limits = Limits {
            max_body_bytes: 1 << 20,
            max_dims: 8,
        };
        decode_request(
            header,
            body,
            ModelSignature {
                inputs: &i,
                outputs: &o,
            },
            &limits,
        )
    }

    #[test]
    fn json_and_binary_inputs_decode_to_the_same_tensor() {
        let j = decode(
            None,
            br#"{"id":"7","inputs":[{"name":"input","shape":[1,2],"datatype":"FP32","data":[[1.5,-2]]}]}"#,
        )
        .unwrap();
        assert_eq!(j.id.as_deref(), Some("7"));
        assert_eq!(j.inputs[0].shape(), &[1, 2]);
        assert_eq!(j.inputs[0].iter().copied().collect::<Vec<_>>(), vec![1.5, -2.0]);
        assert_eq!(
            j.outputs,
            vec![RequestedOutput {
                index: 0,
                binary: false
            }]
        );
        let head = br#"{"inputs":[{"name":"input","shape":[1,2],"datatype":"FP32","parameters":{"binary_data_size":8}}],"outputs":[{"name":"output","parameters":{"binary_data":true}}]}"#;
        let mut body = head.to_vec();
        body.extend(1.5f32.to_le_bytes());
        body.extend((-2f32).to_le_bytes());
        let b = decode(Some(&head.len().to_string()), &body).unwrap();
        assert_eq!(b.inputs, j.inputs);
        assert!(b.any_binary());
    }

    #[test]
    fn lies_and_mismatches_are_refused_with_a_reason() {
        let head =
            br#"{"inputs":[{"name":"input","shape":[1,2],"datatype":"FP32","parameters":{"binary_data_size":8}}]}"#;
        let h = head.len().to_string();
        let mut short = head.to_vec();
        short.extend([0u8; 4]);
        let e = decode(Some(&h), &short).unwrap_err();
        assert!(e.to_string().contains("past the end"), "{e}");
        let mut long = head.to_vec();
        long.extend([0u8; 12]);
        let e = decode(Some(&h), &long).unwrap_err();
        assert!(e.to_string().contains("add up to 8"), "{e}");
        let cases: [(&[u8], &str); 7] = [
            (b"{", "malformed"),
            (br#"{"inputs":[{"name":"input","shape":[1,2],"datatype":"INT64","data":[1,2]}]}"#, "only FP32"),
            (br#"{"inputs":[{"name":"input","shape":[1,3],"datatype":"FP32","data":[1,2]}]}"#, "has 3 elements but data has 2"),
            (br#"{"inputs":[{"name":"nope","shape":[1,2],"datatype":"FP32","data":[1,2]}]}"#, "unknown input"),
            (br#"{"inputs":[]}"#, "missing input"),
            (br#"{"inputs":[{"name":"input","shape":[1,2],"datatype":"FP32","parameters":{"binary_data_size":8}}]}"#, "no Inference-Header-Content-Length"),
            (br#"{"inputs":[{"name":"input","shape":[1,2],"datatype":"FP32","data":[1,2]}],"outputs":[{"name":"x"}]}"#, "unknown output"),
        ];
        for (body, want) in cases {
            let e = decode(None, body).unwrap_err();
            assert!(e.to_string().contains(want), "{}: {e}", String::from_utf8_lossy(body));
            assert_eq!(e.status().as_u16(), 400);
        }
    }
}
