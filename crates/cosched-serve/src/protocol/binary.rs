//! Triton's binary-tensor extension: the body is the JSON header followed by the tensors' raw
//! little-endian bytes, in the order of the JSON's tensors.

use crate::error::RequestError;

/// The header that gives the length of the JSON part.
pub const HEADER_LENGTH: &str = "inference-header-content-length";

/// The JSON part and the binary part of a body, given the value of
/// `Inference-Header-Content-Length` (absent: all JSON).
pub fn split_body<'a>(header_length: Option<&str>, body: &'a [u8]) -> Result<(&'a [u8], &'a [u8]), RequestError> {
    let Some(h) = header_length else { return Ok((body, &[])) };
    let n: usize = h
        .trim()
        .parse()
        .map_err(|_| RequestError::Binary(format!("Inference-Header-Content-Length \"{h}\" is not a byte count")))?;
    if n > body.len() {
        return Err(RequestError::Binary(format!(
            "Inference-Header-Content-Length {n} is larger than the body ({} bytes)",
            body.len()
        )));
    }
    Ok(body.split_at(n))
}

/// `bytes` (a multiple of 4 long) as little-endian f32s.
pub(crate) fn f32s_from_le(bytes: &[u8]) -> Vec<f32> {
    bytes
        .chunks_exact(4)
        .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_header_length_splits_the_body_and_may_not_lie() {
        let body = b"{\"a\":1}\x00\x00\x80\x3f";
        let (json, bin) = split_body(Some("7"), body).unwrap();
        assert_eq!(json, b"{\"a\":1}");
        assert_eq!(f32s_from_le(bin), vec![1.0]);
        assert_eq!(split_body(None, body).unwrap().0.len(), body.len());
        assert!(split_body(Some("12"), body)
            .unwrap_err()
            .to_string()
            .contains("larger than the body"));
        assert!(split_body(Some("-1"), body).is_err());
        assert!(split_body(Some("x"), body).is_err());
    }
}
