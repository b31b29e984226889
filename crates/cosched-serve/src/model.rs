//! A model as served: its executor id and signature, output shapes seen at warm-up, statistics.

use crate::stats::ModelStats;
use cosched_core::ModelId;
use cosched_ort::ModelInfo;
use serde_json::{json, Value};

/// One served model.
pub(crate) struct ServedModel {
    pub(crate) id: ModelId,
    pub(crate) info: ModelInfo,
    /// Output shapes from the warm-up inference (batch dimension -1 when batchable).
    pub(crate) output_shapes: Vec<Vec<i64>>,
    pub(crate) stats: ModelStats,
}

impl ServedModel {
    pub(crate) fn name(&self) -> &str {
        &self.info.name
    }

    /// Triton's `max_batch_size`: 1 when every input has a dynamic first (batch) dimension (one
    /// sample per request; the executor batches requests itself), else 0 (no batch dimension:
    /// `dims` are the full shapes).
    pub(crate) fn max_batch_size(&self) -> u32 {
        u32::from(self.info.batchable)
    }

    fn dims(&self, shape: &[i64]) -> Vec<i64> {
        if self.info.batchable {
            shape.iter().skip(1).copied().collect()
        } else {
            shape.to_vec()
        }
    }

    /// KServe v2 model metadata.
    pub(crate) fn metadata(&self) -> Value {
        let tensor = |name: &str, shape: &[i64]| json!({ "name": name, "datatype": "FP32", "shape": shape });
        json!({
            "name": self.name(),
            "versions": ["1"],
            "platform": "onnxruntime_onnx",
            "inputs": self.info.inputs.iter().map(|(n, s)| tensor(n, s)).collect::<Vec<_>>(),
            "outputs": self.info.outputs.iter().zip(&self.output_shapes).map(|(n, s)| tensor(n, s)).collect::<Vec<_>>(),
        })
    }

    /// Triton's model configuration (the fields its clients read).
    pub(crate) fn config(&self) -> Value {
        let tensor =
            |name: &str, shape: &[i64]| json!({ "name": name, "data_type": "TYPE_FP32", "dims": self.dims(shape) });
        json!({
            "name": self.name(),
            "platform": "onnxruntime_onnx",
            "backend": "onnxruntime",
            "max_batch_size": self.max_batch_size(),
            "input": self.info.inputs.iter().map(|(n, s)| tensor(n, s)).collect::<Vec<_>>(),
            "output": self.info.outputs.iter().zip(&self.output_shapes).map(|(n, s)| tensor(n, s)).collect::<Vec<_>>(),
        })
    }
}
