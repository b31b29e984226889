//! The in-process backend: ONNX Runtime sessions on the execution provider each processor of
//! the profile names. Session building lives here once, for the executor and for `profile`.

mod ep;

pub use self::ep::ep_name;

use super::{Backend, BackendSession, Batch};
use crate::error::{BackendError, ExecError, ProviderError};
use crate::executor::{ExecutorConfig, ModelInfo};
use crate::runtime;
use cosched_core::Processor;
use ndarray::{ArrayD, Axis};
use ort::environment::Environment;
use ort::session::Session;
use std::path::Path;
use std::time::Instant;

/// Session settings that do not come from the processor.
#[derive(Debug, Clone, Copy)]
pub(crate) struct SessionOptions {
    /// Intra-op threads of processors whose profile gives no `threads`.
    pub default_threads: usize,
    /// Let intra-op threads spin while waiting for work.
    pub intra_op_spinning: bool,
    /// Graph optimisation level 0..=3 (3: all).
    pub optimization_level: u8,
}

/// Runs models on ONNX Runtime, in this process.
#[derive(Clone)]
pub struct OrtBackend {
    env: Environment,
    options: SessionOptions,
}

impl OrtBackend {
    /// Load libonnxruntime (see [`runtime`]) and take the session settings of `config`.
    pub fn new(config: &ExecutorConfig) -> Result<OrtBackend, ExecError> {
        let env = runtime::environment(config.ort_library.as_deref())?;
        Ok(OrtBackend::with_options(
            env,
            SessionOptions {
                default_threads: config.default_threads,
                intra_op_spinning: config.intra_op_spinning,
                optimization_level: config.optimization_level,
            },
        ))
    }

    pub(crate) fn with_options(env: Environment, options: SessionOptions) -> OrtBackend {
        OrtBackend { env, options }
    }

    /// A session of the model at `path` on `p`'s execution provider.
    pub(crate) fn session(&self, p: &Processor, path: &Path) -> Result<Session, BackendError> {
        use ort::session::builder::GraphOptimizationLevel;
        let choice = ep::choose(p)?;
        let threads = p.threads.map_or(self.options.default_threads, |t| t as usize).max(1);
        let level = match self.options.optimization_level {
            0 => GraphOptimizationLevel::Disable,
            1 => GraphOptimizationLevel::Level1,
            2 => GraphOptimizationLevel::Level2,
            _ => GraphOptimizationLevel::All,
        };
        let registered = choice.dispatch.is_some();
        let e = |e: ort::Error<ort::session::builder::SessionBuilder>| build_error(&e, registered);
        let mut b = Session::builder(&self.env)
            .map_err(|e| build_error(&e, registered))?
            .with_intra_threads(threads)
            .map_err(e)?
            .with_inter_threads(1)
            .map_err(e)?
            .with_intra_op_spinning(self.options.intra_op_spinning)
            .map_err(e)?
            .with_optimization_level(level)
            .map_err(e)?;
        if let Some(d) = choice.dispatch {
            b = b
                .with_execution_providers([d])
                .map_err(|e| ProviderError::Registration {
                    provider: choice.name.to_string(),
                    message: e.to_string(),
                })?;
        }
        b.commit_from_file(path).map_err(|e| build_error(&e, registered))
    }

    /// The inputs and outputs of an open session, as the model `name` at `path`.
    pub(crate) fn describe(s: &Session, name: &str, path: &Path) -> Result<ModelInfo, BackendError> {
        let mut inputs = Vec::new();
        for i in s.inputs() {
            match i.dtype() {
                ort::value::ValueType::Tensor { ty, shape, .. } if *ty == ort::value::TensorElementType::Float32 => {
                    inputs.push((i.name().to_string(), shape.to_vec()))
                }
                other => {
                    return Err(BackendError::UnsupportedInput {
                        name: i.name().to_string(),
                        ty: format!("{other:?}"),
                    })
                }
            }
        }
        let outputs = s.outputs().iter().map(|o| o.name().to_string()).collect();
        Ok(ModelInfo::new(name, path, inputs, outputs))
    }
}

/// Sort ONNX Runtime's error while building a session: the execution provider's failure (the
/// processor is masked out) or the model's (fatal). ONNX Runtime codes some provider failures
/// `EP_FAIL` and reports others only in a message naming the provider, so both are read.
fn build_error<R>(e: &ort::Error<R>, provider_registered: bool) -> BackendError {
    let by_code = e.code() == ort::error::ErrorCode::ExecutionProviderFailure;
    let by_name = provider_registered && e.message().contains("ExecutionProvider");
    if by_code || by_name {
        ProviderError::Session(e.to_string()).into()
    } else {
        BackendError::Model(e.to_string())
    }
}

impl Backend for OrtBackend {
    fn provider(&self, processor: &Processor) -> Result<String, ProviderError> {
        ep::choose(processor).map(|c| c.name.to_string())
    }

    fn probe(&self, processor: &Processor, name: &str, path: &Path) -> Result<ModelInfo, BackendError> {
        let s = self.session(processor, path)?;
        OrtBackend::describe(&s, name, path)
    }

    fn open(&self, processor: &Processor, model: &ModelInfo) -> Result<Box<dyn BackendSession>, BackendError> {
        Ok(Box::new(OrtSession(self.session(processor, &model.path)?)))
    }
}

/// An ONNX Runtime session (`Session::run` takes `&mut self`: one per worker and model).
struct OrtSession(Session);

impl BackendSession for OrtSession {
    fn run(&mut self, batch: Batch<'_>) -> Result<Vec<Vec<ArrayD<f32>>>, BackendError> {
        run_batch(&mut self.0, batch)
    }
}

/// Where a batch's time went, as Kum et al. split it: `pre` joins the requests' inputs into
/// one batched tensor, `infer` is the session run, `post` copies the outputs out and splits
/// them back into one row per request. Measured on the executor's own code path.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct BatchStages {
    /// Joining the inputs along the batch axis, ms (nothing for a batch of one).
    pub pre_ms: f64,
    /// The ONNX Runtime session run, ms.
    pub infer_ms: f64,
    /// Extracting the outputs and splitting them per request, ms.
    pub post_ms: f64,
}

/// Run a batch: one request as it is, several concatenated along the batch axis and the
/// outputs split back into one row per request.
fn run_batch(session: &mut Session, batch: Batch<'_>) -> Result<Vec<Vec<ArrayD<f32>>>, BackendError> {
    run_staged(session, batch.len(), |i| batch.inputs(i)).map(|(out, _)| out)
}

/// One list of outputs per request of a batch.
type PerRequest = Vec<Vec<ArrayD<f32>>>;

/// [`run_batch`] over `n` requests whose inputs `inputs(i)` gives, timed by stage.
pub(crate) fn run_staged<'a>(
    session: &mut Session,
    n: usize,
    inputs: impl Fn(usize) -> &'a [ArrayD<f32>],
) -> Result<(PerRequest, BatchStages), BackendError> {
    use ort::session::SessionInputValue;
    use ort::value::TensorRef;
    let ms = |t: Instant| t.elapsed().as_secs_f64() * 1000.0;
    let e = |e: ort::Error| BackendError::Run(e.to_string());
    let t0 = Instant::now();
    let joined: Vec<ArrayD<f32>>;
    let model_inputs: &[ArrayD<f32>] = if n == 1 {
        inputs(0)
    } else {
        joined = (0..inputs(0).len())
            .map(|k| {
                let views: Vec<_> = (0..n).map(|i| inputs(i)[k].view()).collect();
                ndarray::concatenate(Axis(0), &views).map_err(|e| BackendError::Run(e.to_string()))
            })
            .collect::<Result<_, _>>()?;
        &joined
    };
    let values: Vec<SessionInputValue<'_>> = model_inputs
        .iter()
        .map(|a| TensorRef::from_array_view(a).map(Into::into))
        .collect::<Result<_, _>>()
        .map_err(e)?;
    let pre_ms = ms(t0);
    let t1 = Instant::now();
    let out = session.run(values.as_slice()).map_err(e)?;
    let infer_ms = ms(t1);
    let t2 = Instant::now();
    let outputs: Vec<ArrayD<f32>> = out
        .values()
        .map(|v| v.try_extract_array::<f32>().map(|a| a.to_owned()).map_err(e))
        .collect::<Result<_, _>>()?;
    drop(out);
    let per_req = if n == 1 {
        vec![outputs]
    } else {
        let mut per_req: Vec<Vec<ArrayD<f32>>> = vec![Vec::with_capacity(outputs.len()); n];
        for o in &outputs {
            if o.shape().first() != Some(&n) {
                return Err(BackendError::BatchShape {
                    shape: o.shape().to_vec(),
                    batch: n,
                });
            }
            for (i, out) in per_req.iter_mut().enumerate() {
                out.push(o.slice_axis(Axis(0), (i..i + 1).into()).to_owned());
            }
        }
        per_req
    };
    let stages = BatchStages {
        pre_ms,
        infer_ms,
        post_ms: ms(t2),
    };
    Ok((per_req, stages))
}
