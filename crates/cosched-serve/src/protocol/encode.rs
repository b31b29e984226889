//! Outputs -> a response body (JSON, then the binary outputs' bytes in order).

use super::decode::RequestedOutput;
use super::types::{InferResponse, ResponseOutput};
use ndarray::ArrayD;

/// A response body.
#[derive(Debug)]
pub struct Encoded {
    /// JSON, followed by the binary outputs if any.
    pub body: Vec<u8>,
    /// Length of the JSON part when binary data follows it (the value of the
    /// `Inference-Header-Content-Length` response header).
    pub header_length: Option<usize>,
}

/// Encode the `wanted` outputs of `values` (in the model's output order, named `names`).
pub fn encode_response(
    model: &str,
    id: Option<&str>,
    names: &[String],
    values: &[ArrayD<f32>],
    wanted: &[RequestedOutput],
) -> Encoded {
    let mut binary: Vec<u8> = Vec::new();
    let outputs = wanted
        .iter()
        .filter_map(|w| Some((w, values.get(w.index)?, names.get(w.index)?)))
        .map(|(w, a, name)| {
            let shape = a.shape().to_vec();
            if w.binary {
                binary.reserve(a.len() * 4);
                for v in a.iter() {
                    binary.extend_from_slice(&v.to_le_bytes());
                }
                ResponseOutput {
                    name,
                    datatype: "FP32",
                    shape,
                    parameters: Some(serde_json::json!({ "binary_data_size": a.len() * 4 })),
                    data: None,
                }
            } else {
                ResponseOutput {
                    name,
                    datatype: "FP32",
                    shape,
                    parameters: None,
                    data: Some(a.iter().map(|&v| f64::from(v)).collect()),
                }
            }
        })
        .collect();
    let response = InferResponse {
        model_name: model,
        model_version: "1",
        id,
        outputs,
    };
    let mut body = serde_json::to_vec(&response).expect("a response serialises");
    let header_length = (!binary.is_empty() || wanted.iter().any(|w| w.binary)).then_some(body.len());
    body.extend_from_slice(&binary);
    Encoded { body, header_length }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn binary_outputs_follow_the_json_and_json_outputs_read_back_exactly() {
        let names = vec!["a".to_string(), "b".to_string()];
        let x = 0.1f32;
        let values = vec![ArrayD::from_elem(vec![1, 2], x), ArrayD::from_elem(vec![1], 2.0f32)];
        let wanted = [
            RequestedOutput { index: 1, binary: true },
            RequestedOutput {
                index: 0,
                binary: false,
            },
        ];
        let e = encode_response("m", Some("r1"), &names, &values, &wanted);
        let n = e.header_length.unwrap();
        let json: serde_json::Value = serde_json::from_slice(&e.body[..n]).unwrap();
        assert_eq!(json["id"], "r1");
        assert_eq!(json["outputs"][0]["name"], "b");
        assert_eq!(json["outputs"][0]["parameters"]["binary_data_size"], 4);
        assert_eq!(&e.body[n..], &2.0f32.to_le_bytes());
        let back = json["outputs"][1]["data"][0].as_f64().unwrap() as f32;
        assert_eq!(back.to_bits(), x.to_bits());
        let plain = encode_response(
            "m",
            None,
            &names,
            &values,
            &[RequestedOutput {
                index: 0,
                binary: false,
            }],
        );
        assert!(plain.header_length.is_none());
    }
}
