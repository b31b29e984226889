//! Checking a real run's outputs: every completion of a model against that model's outputs for
//! the same input run alone (batch 1), so that batching, hedging or any placement is seen to
//! change nothing a user gets back.

use crate::error::InferenceError;
use crate::executor::{Executor, Inputs};
use cosched_core::ModelId;
use ndarray::ArrayD;

/// Largest difference counted as equal: ONNX Runtime may pick other kernels for another batch
/// size, whose float rounding differs in the last bits.
const TOLERANCE_ABS: f32 = 1e-4;
const TOLERANCE_REL: f32 = 1e-4;

/// What the check found over a run.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct OutputSummary {
    /// Completions compared.
    pub checked: u64,
    /// Completions with an output beyond the tolerance.
    pub mismatched: u64,
    /// Largest absolute difference seen.
    pub max_abs_diff: f32,
}

/// The batch-1 reference outputs per model, and the tally.
pub struct OutputCheck {
    reference: Vec<Option<Vec<ArrayD<f32>>>>,
    summary: OutputSummary,
}

impl OutputCheck {
    /// Run each model's input alone on `exec` and keep its outputs as the reference.
    pub fn reference(exec: &Executor, inputs: &[Option<Inputs>]) -> Result<OutputCheck, InferenceError> {
        let mut reference = Vec::with_capacity(inputs.len());
        for (m, input) in inputs.iter().enumerate() {
            reference.push(match input {
                Some(i) => {
                    let ticket = exec
                        .submit(ModelId(m as u16), i.clone())
                        .map_err(|e| InferenceError::Failed {
                            processor: "(reference run)".into(),
                            message: e.to_string(),
                        })?;
                    Some(ticket.wait().result?)
                }
                None => None,
            });
        }
        Ok(OutputCheck {
            reference,
            summary: OutputSummary::default(),
        })
    }

    /// Compare one completion of `model`.
    pub fn check(&mut self, model: ModelId, outputs: &[ArrayD<f32>]) {
        let Some(Some(reference)) = self.reference.get(model.index()) else {
            return;
        };
        let s = &mut self.summary;
        s.checked += 1;
        let mut equal = outputs.len() == reference.len();
        for (a, b) in outputs.iter().zip(reference) {
            if a.shape() != b.shape() {
                equal = false;
                continue;
            }
            for (&x, &y) in a.iter().zip(b.iter()) {
                let d = (x - y).abs();
                s.max_abs_diff = s.max_abs_diff.max(d);
                // NaN compares as a difference.
                let within = d <= TOLERANCE_ABS + TOLERANCE_REL * y.abs();
                equal &= within;
            }
        }
        s.mismatched += u64::from(!equal);
    }

    /// The tally so far.
    pub fn summary(&self) -> OutputSummary {
        self.summary
    }
}
