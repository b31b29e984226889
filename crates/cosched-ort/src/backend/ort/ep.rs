//! Execution providers: from a profile's `ep` to an ONNX Runtime registration that fails loudly.
//!
//! Every EP is registered with `error_on_failure`, and checked against the providers the loaded
//! libonnxruntime was built with first, so that an EP that is not there masks its processor
//! out of the policy's actions instead of silently running on the CPU.

use crate::error::ProviderError;
use cosched_core::{ExecutionProviderKind, Processor};
#[allow(unused_imports)]
use ort::ep::{self, ExecutionProvider, ExecutionProviderDispatch};

/// The EP a processor asks for, ready to register on a session builder.
pub(crate) struct EpChoice {
    /// ONNX Runtime's name of the provider, e.g. `CUDAExecutionProvider`.
    pub name: &'static str,
    /// The registration, `None` for the CPU provider (always there, nothing to register).
    pub dispatch: Option<ExecutionProviderDispatch>,
}

/// Name used in profiles for an EP kind.
pub fn ep_name(kind: ExecutionProviderKind) -> &'static str {
    match kind {
        ExecutionProviderKind::Cpu => "cpu",
        ExecutionProviderKind::Cuda => "cuda",
        ExecutionProviderKind::Tensorrt => "tensorrt",
        ExecutionProviderKind::TensorrtDla => "tensorrt-dla",
        ExecutionProviderKind::Nnapi => "nnapi",
        ExecutionProviderKind::Qnn => "qnn",
        ExecutionProviderKind::Xnnpack => "xnnpack",
        ExecutionProviderKind::Openvino => "openvino",
        ExecutionProviderKind::Remote => "remote",
    }
}

/// The DLA core of a processor id like `dla1` (trailing digits), default 0.
#[allow(dead_code)]
fn trailing_index(id: &str) -> u32 {
    let digits: String = id.chars().rev().take_while(|c| c.is_ascii_digit()).collect();
    digits.chars().rev().collect::<String>().parse().unwrap_or(0)
}

#[allow(dead_code)]
fn check<E: ExecutionProvider>(feature: &'static str) -> Result<&'static str, ProviderError> {
    match E::is_available() {
        Ok(true) => Ok(E::NAME),
        Ok(false) => Err(ProviderError::NotInLibrary {
            provider: E::NAME.to_string(),
            feature,
        }),
        Err(e) => Err(ProviderError::Listing(e.to_string())),
    }
}

// Unused only when every EP feature is on (CI checks that build too).
#[allow(dead_code)]
fn not_built(feature: &'static str) -> ProviderError {
    ProviderError::NotBuilt { feature }
}

/// The registration for `p`'s EP, or why it cannot be used here.
pub(crate) fn choose(p: &Processor) -> Result<EpChoice, ProviderError> {
    let _ = trailing_index; // used by some feature combinations only
    match p.ep {
        ExecutionProviderKind::Cpu => Ok(EpChoice {
            name: "CPUExecutionProvider",
            dispatch: None,
        }),
        ExecutionProviderKind::Remote => Err(ProviderError::Remote),
        ExecutionProviderKind::Cuda => {
            #[cfg(feature = "cuda")]
            {
                let name = check::<ep::CUDA>("cuda")?;
                Ok(EpChoice {
                    name,
                    dispatch: Some(ep::CUDA::default().build().error_on_failure()),
                })
            }
            #[cfg(not(feature = "cuda"))]
            Err(not_built("cuda"))
        }
        ExecutionProviderKind::Tensorrt | ExecutionProviderKind::TensorrtDla => {
            #[cfg(feature = "tensorrt")]
            {
                let name = check::<ep::TensorRT>("tensorrt")?;
                let mut trt = ep::TensorRT::default()
                    .with_engine_cache(true)
                    .with_engine_cache_path(std::env::temp_dir().join("cosched-trt-cache").display());
                if p.ep == ExecutionProviderKind::TensorrtDla {
                    trt = trt.with_dla(true).with_dla_core(trailing_index(&p.id));
                }
                Ok(EpChoice {
                    name,
                    dispatch: Some(trt.build().error_on_failure()),
                })
            }
            #[cfg(not(feature = "tensorrt"))]
            Err(not_built("tensorrt"))
        }
        ExecutionProviderKind::Nnapi => {
            #[cfg(feature = "nnapi")]
            {
                let name = check::<ep::NNAPI>("nnapi")?;
                Ok(EpChoice {
                    name,
                    dispatch: Some(ep::NNAPI::default().build().error_on_failure()),
                })
            }
            #[cfg(not(feature = "nnapi"))]
            Err(not_built("nnapi"))
        }
        ExecutionProviderKind::Qnn => {
            #[cfg(feature = "qnn")]
            {
                let name = check::<ep::QNN>("qnn")?;
                Ok(EpChoice {
                    name,
                    dispatch: Some(
                        ep::QNN::default()
                            .with_backend_path("libQnnHtp.so")
                            .build()
                            .error_on_failure(),
                    ),
                })
            }
            #[cfg(not(feature = "qnn"))]
            Err(not_built("qnn"))
        }
        ExecutionProviderKind::Xnnpack => {
            #[cfg(feature = "xnnpack")]
            {
                let name = check::<ep::XNNPACK>("xnnpack")?;
                Ok(EpChoice {
                    name,
                    dispatch: Some(ep::XNNPACK::default().build().error_on_failure()),
                })
            }
            #[cfg(not(feature = "xnnpack"))]
            Err(not_built("xnnpack"))
        }
        ExecutionProviderKind::Openvino => {
            #[cfg(feature = "openvino")]
            {
                let name = check::<ep::OpenVINO>("openvino")?;
                Ok(EpChoice {
                    name,
                    dispatch: Some(ep::OpenVINO::default().build().error_on_failure()),
                })
            }
            #[cfg(not(feature = "openvino"))]
            Err(not_built("openvino"))
        }
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn dla_core_from_id() {
        assert_eq!(super::trailing_index("dla1"), 1);
        assert_eq!(super::trailing_index("dla"), 0);
    }
}
