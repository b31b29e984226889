//! A model as loaded: its inputs and outputs, and inputs made up for it.

use ndarray::ArrayD;
use std::path::{Path, PathBuf};

/// The inputs of one inference, in the order of the model's inputs. Each has batch size 1 where
/// the model has a batch dimension.
pub type Inputs = Vec<ArrayD<f32>>;

/// One model as loaded.
#[derive(Debug, Clone)]
pub struct ModelInfo {
    /// Name from the profile.
    pub name: String,
    /// The file.
    pub path: PathBuf,
    /// Input names and shapes (-1 for a dynamic dimension).
    pub inputs: Vec<(String, Vec<i64>)>,
    /// Output names.
    pub outputs: Vec<String>,
    /// Every input has a dynamic first dimension, so requests can be batched.
    pub batchable: bool,
}

impl ModelInfo {
    /// A model with these inputs and outputs; it is batchable when every input has a dynamic
    /// first dimension.
    pub fn new(name: &str, path: &Path, inputs: Vec<(String, Vec<i64>)>, outputs: Vec<String>) -> ModelInfo {
        ModelInfo {
            name: name.to_string(),
            path: path.to_path_buf(),
            batchable: !inputs.is_empty() && inputs.iter().all(|(_, s)| s.first() == Some(&-1)),
            inputs,
            outputs,
        }
    }

    /// Random inputs of batch 1 (dynamic dimensions set to 1), uniform in [0, 1).
    pub fn random_inputs(&self, rng: &mut impl rand::Rng) -> Inputs {
        self.inputs_of_batch(1, rng)
    }

    /// Random inputs of batch `b` (first dynamic dimension `b`, others 1).
    pub fn inputs_of_batch(&self, b: usize, rng: &mut impl rand::Rng) -> Inputs {
        self.inputs
            .iter()
            .map(|(_, shape)| {
                let dims: Vec<usize> = shape
                    .iter()
                    .enumerate()
                    .map(|(i, &d)| {
                        if d > 0 {
                            d as usize
                        } else if i == 0 {
                            b
                        } else {
                            1
                        }
                    })
                    .collect();
                ArrayD::from_shape_simple_fn(dims, || rng.random::<f32>())
            })
            .collect()
    }
}
