//! The wire format of KServe v2 inference requests and responses, with Triton's binary-tensor
//! extension. Nothing here knows about HTTP or the executor: [`decode_request`] turns a body
//! into batch-1 f32 inputs in the model's input order (checking every size before allocating),
//! [`encode_response`] turns outputs into a body.

mod binary;
mod data;
mod decode;
mod encode;
mod limits;
mod params;
mod types;

pub use binary::{split_body, HEADER_LENGTH};
pub use data::FlatData;
pub use decode::{decode_request, Decoded, ModelSignature, RequestedOutput};
pub use encode::{encode_response, Encoded};
pub use limits::Limits;
pub use params::{RequestParams, MAX_DEADLINE_MS};
pub use types::{InferRequest, InferResponse, RequestInput, RequestOutput, ResponseOutput};
