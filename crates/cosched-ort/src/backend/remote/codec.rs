//! KServe v2 inference requests and responses as bytes: JSON tensors, and Triton's binary tensor
//! extension (a JSON header whose length is in `Inference-Header-Content-Length`, then the raw
//! little-endian tensors in order).
//!
//! A response is untrusted input: sizes and shapes are checked against each other and against
//! the body before anything is allocated from them.

use ndarray::ArrayD;
use serde_json::{json, Value};

/// Most elements one output may have (1 G f32 = 4 GB): a larger claimed shape is a lie.
const MAX_ELEMENTS: usize = 1 << 30;

/// An encoded request: its body and, for the binary extension, the JSON header's length.
pub(super) struct Encoded {
    pub(super) body: Vec<u8>,
    pub(super) header_len: Option<usize>,
}

/// The request for one inference of `inputs` (named `names`), asking for `outputs`.
pub(super) fn encode(names: &[String], inputs: &[ArrayD<f32>], outputs: &[String], binary: bool) -> Encoded {
    let tensors: Vec<Value> = names
        .iter()
        .zip(inputs)
        .map(|(name, a)| {
            let mut t = json!({"name": name, "shape": a.shape(), "datatype": "FP32"});
            if binary {
                t["parameters"] = json!({"binary_data_size": a.len() * 4});
            } else {
                t["data"] = Value::Array(a.iter().map(|&x| json!(x)).collect());
            }
            t
        })
        .collect();
    let outs: Vec<Value> = outputs
        .iter()
        .map(|name| {
            if binary {
                json!({"name": name, "parameters": {"binary_data": true}})
            } else {
                json!({"name": name})
            }
        })
        .collect();
    let head = serde_json::to_vec(&json!({"inputs": tensors, "outputs": outs})).expect("a JSON value serialises");
    if !binary {
        return Encoded {
            body: head,
            header_len: None,
        };
    }
    let header_len = head.len();
    let mut body = head;
    body.reserve(inputs.iter().map(|a| a.len() * 4).sum());
    for a in inputs {
        for &x in a.iter() {
            body.extend_from_slice(&x.to_le_bytes());
        }
    }
    Encoded {
        body,
        header_len: Some(header_len),
    }
}

/// The outputs named `wanted`, in that order, from a response `body` (`header_len`: the value
/// of its `Inference-Header-Content-Length`, if it had one).
pub(super) fn decode(body: &[u8], header_len: Option<usize>, wanted: &[String]) -> Result<Vec<ArrayD<f32>>, String> {
    let head_len = header_len.unwrap_or(body.len());
    if head_len > body.len() {
        return Err(format!(
            "Inference-Header-Content-Length {head_len} is larger than the body ({} bytes)",
            body.len()
        ));
    }
    let head: Value =
        serde_json::from_slice(&body[..head_len]).map_err(|e| format!("response is not KServe v2 JSON: {e}"))?;
    let outputs = head
        .get("outputs")
        .and_then(Value::as_array)
        .ok_or("response has no \"outputs\" array")?;
    // Binary outputs follow the header in the order of the response's outputs.
    let mut offset = head_len;
    let mut found: Vec<(String, ArrayD<f32>)> = Vec::with_capacity(outputs.len());
    for o in outputs {
        let name = o.get("name").and_then(Value::as_str).ok_or("an output has no name")?;
        let shape = shape_of(o).map_err(|e| format!("output \"{name}\": {e}"))?;
        let count = element_count(&shape).map_err(|e| format!("output \"{name}\": {e}"))?;
        let datatype = o.get("datatype").and_then(Value::as_str).unwrap_or("");
        let binary_size = o
            .get("parameters")
            .and_then(|p| p.get("binary_data_size"))
            .and_then(Value::as_u64);
        let values: Vec<f32> = match binary_size {
            Some(size) => {
                let size =
                    usize::try_from(size).map_err(|_| format!("output \"{name}\": binary_data_size too large"))?;
                let end = offset
                    .checked_add(size)
                    .filter(|&e| e <= body.len())
                    .ok_or_else(|| format!("output \"{name}\": binary_data_size {size} runs past the body"))?;
                let bytes = &body[offset..end];
                offset = end;
                binary_values(datatype, bytes, count).map_err(|e| format!("output \"{name}\": {e}"))?
            }
            None => {
                let data = o.get("data").ok_or_else(|| format!("output \"{name}\" has no data"))?;
                let mut v = Vec::with_capacity(count);
                flatten(data, &mut v, count).map_err(|e| format!("output \"{name}\": {e}"))?;
                if v.len() != count {
                    return Err(format!("output \"{name}\": {} values for shape {shape:?}", v.len()));
                }
                v
            }
        };
        let array = ArrayD::from_shape_vec(shape, values).map_err(|e| format!("output \"{name}\": {e}"))?;
        found.push((name.to_string(), array));
    }
    wanted
        .iter()
        .map(|w| {
            let i = found
                .iter()
                .position(|(n, _)| n == w)
                .ok_or_else(|| format!("response has no output \"{w}\""))?;
            Ok(found.swap_remove(i).1)
        })
        .collect()
}

fn shape_of(o: &Value) -> Result<Vec<usize>, String> {
    let dims = o.get("shape").and_then(Value::as_array).ok_or("no shape")?;
    if dims.len() > 16 {
        return Err(format!("{} dimensions", dims.len()));
    }
    dims.iter()
        .map(|d| {
            d.as_u64()
                .and_then(|d| usize::try_from(d).ok())
                .ok_or_else(|| format!("dimension {d} is not a size"))
        })
        .collect()
}

fn element_count(shape: &[usize]) -> Result<usize, String> {
    shape
        .iter()
        .try_fold(1usize, |n, &d| n.checked_mul(d))
        .filter(|&n| n <= MAX_ELEMENTS)
        .ok_or_else(|| format!("shape {shape:?} is too large"))
}

fn binary_values(datatype: &str, bytes: &[u8], count: usize) -> Result<Vec<f32>, String> {
    let width = match datatype {
        "FP32" => 4,
        "FP64" => 8,
        other => return Err(format!("datatype \"{other}\" is not supported (FP32 or FP64)")),
    };
    if bytes.len() != count * width {
        return Err(format!("{} bytes of {datatype} for {count} elements", bytes.len()));
    }
    Ok(if width == 4 {
        bytes
            .chunks_exact(4)
            .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
            .collect()
    } else {
        bytes
            .chunks_exact(8)
            .map(|c| f64::from_le_bytes(c.try_into().expect("8 bytes")) as f32)
            .collect()
    })
}

/// The numbers of a flat or nested JSON array, at most `limit` of them.
fn flatten(v: &Value, out: &mut Vec<f32>, limit: usize) -> Result<(), String> {
    match v {
        Value::Array(items) => {
            for item in items {
                flatten(item, out, limit)?;
            }
            Ok(())
        }
        Value::Number(n) => {
            if out.len() >= limit {
                return Err(format!("more than {limit} values for its shape"));
            }
            out.push(n.as_f64().ok_or("a value is not a number")? as f32);
            Ok(())
        }
        other => Err(format!("{other} is not a number")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ndarray::IxDyn;

    fn names(n: &[&str]) -> Vec<String> {
        n.iter().map(|s| s.to_string()).collect()
    }

    /// A server's response to `req`: the input echoed as output `y`, in the request's encoding.
    fn echo(req: &Encoded) -> (Vec<u8>, Option<usize>) {
        let head_len = req.header_len.unwrap_or(req.body.len());
        let head: Value = serde_json::from_slice(&req.body[..head_len]).unwrap();
        let input = &head["inputs"][0];
        match req.header_len {
            Some(_) => {
                let raw = &req.body[head_len..];
                let mut resp = serde_json::to_vec(&json!({"outputs": [
                    {"name": "y", "shape": input["shape"], "datatype": "FP32",
                     "parameters": {"binary_data_size": raw.len()}}]}))
                .unwrap();
                let n = resp.len();
                resp.extend_from_slice(raw);
                (resp, Some(n))
            }
            None => {
                let resp = json!({"outputs": [{"name": "y", "shape": input["shape"], "datatype": "FP32", "data": input["data"]}]});
                (serde_json::to_vec(&resp).unwrap(), None)
            }
        }
    }

    #[test]
    fn round_trip_in_both_encodings() {
        let x = ArrayD::from_shape_fn(IxDyn(&[1, 3, 2]), |i| (i[1] * 2 + i[2]) as f32 * 0.25 - 0.5);
        for binary in [false, true] {
            let req = encode(&names(&["x"]), std::slice::from_ref(&x), &names(&["y"]), binary);
            assert_eq!(req.header_len.is_some(), binary);
            let (body, head) = echo(&req);
            let out = decode(&body, head, &names(&["y"])).unwrap();
            assert_eq!(out, vec![x.clone()], "binary = {binary}");
        }
    }

    #[test]
    fn nested_json_data_and_output_order() {
        let body = br#"{"outputs":[{"name":"b","shape":[1],"datatype":"FP32","data":[7]},
            {"name":"a","shape":[2,2],"datatype":"FP32","data":[[1,2],[3,4]]}]}"#;
        let out = decode(body, None, &names(&["a", "b"])).unwrap();
        assert_eq!(out[0].shape(), &[2, 2]);
        assert_eq!(out[0].iter().copied().collect::<Vec<_>>(), vec![1.0, 2.0, 3.0, 4.0]);
        assert_eq!(out[1].iter().copied().collect::<Vec<_>>(), vec![7.0]);
    }

    #[test]
    fn lying_responses_are_errors_not_panics() {
        let cases: Vec<(Vec<u8>, Option<usize>, &str)> = vec![
            (b"not json".to_vec(), None, "not KServe v2 JSON"),
            (b"{}".to_vec(), None, "no \"outputs\""),
            (
                br#"{"outputs":[{"name":"y","shape":[3],"datatype":"FP32","data":[1,2]}]}"#.to_vec(),
                None,
                "2 values",
            ),
            (
                br#"{"outputs":[{"name":"y","shape":[1],"datatype":"FP32","data":[1,2]}]}"#.to_vec(),
                None,
                "more than 1",
            ),
            (
                br#"{"outputs":[{"name":"y","shape":[4294967296,4294967296],"datatype":"FP32","data":[]}]}"#.to_vec(),
                None,
                "too large",
            ),
            (
                br#"{"outputs":[{"name":"y","shape":[1],"datatype":"FP32","data":["a"]}]}"#.to_vec(),
                None,
                "not a number",
            ),
            (
                br#"{"outputs":[{"name":"z","shape":[1],"datatype":"FP32","data":[1]}]}"#.to_vec(),
                None,
                "no output \"y\"",
            ),
            (b"{}".to_vec(), Some(99), "larger than the body"),
        ];
        for (body, head, why) in cases {
            let e = decode(&body, head, &names(&["y"])).unwrap_err();
            assert!(e.contains(why), "{e:?} should say {why:?}");
        }
        let mut body = serde_json::to_vec(
            &json!({"outputs":[{"name":"y","shape":[2],"datatype":"FP32","parameters":{"binary_data_size":8}}]}),
        )
        .unwrap();
        let n = body.len();
        body.extend_from_slice(&[0; 4]);
        assert!(decode(&body, Some(n), &names(&["y"]))
            .unwrap_err()
            .contains("runs past the body"));
        body.extend_from_slice(&[0; 4]);
        body[n..].copy_from_slice(&[0; 8]);
        let mut bad = body.clone();
        let text = String::from_utf8(bad[..n].to_vec()).unwrap().replace("FP32", "INT8");
        bad.splice(..n, text.into_bytes());
        assert!(decode(&bad, Some(n), &names(&["y"])).unwrap_err().contains("INT8"));
        assert_eq!(decode(&body, Some(n), &names(&["y"])).unwrap()[0].len(), 2);
    }
}
