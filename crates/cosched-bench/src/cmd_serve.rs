//! `cosched-bench serve`: the board behind a KServe v2 REST endpoint (docs/serve.md).

use crate::inputs::BadInput;
use clap::Args;
use cosched_core::{DeviceProfile, ObjectiveWeights};
use cosched_ort::{ExecError, Executor, ExecutorConfig};
use cosched_serve::{ServeConfig, Server};
use std::net::SocketAddr;
use std::path::PathBuf;

/// Arguments of `cosched-bench serve`.
#[derive(Args)]
pub struct ServeArgs {
    /// Device profile: a path or a name in devices/ (host-cpu for this machine).
    #[arg(long, default_value = "host-cpu")]
    device: String,
    /// Folder of <model>.onnx files: every model of the profile found there is served.
    #[arg(long, default_value = "models")]
    models: PathBuf,
    /// Policy placing every request: a baseline, drl[:objective] (guarded), or a policy directory.
    #[arg(long, default_value = "least-slack")]
    policy: String,
    /// Objective weights of a learned or guarded policy: balanced, latency, energy, or weights.
    #[arg(long, default_value = "balanced")]
    objective: String,
    /// Address to listen on (port 0: any free port; the line printed at start-up names it).
    #[arg(long, default_value = "127.0.0.1:8000")]
    listen: SocketAddr,
    /// Requests waiting per processor before new ones get 503.
    #[arg(long, default_value_t = 256)]
    queue_capacity: usize,
    /// Inference requests held at once (reading, queued, running); more get 503.
    #[arg(long, default_value_t = 1024)]
    max_in_flight: usize,
    /// Largest request body, MiB (larger: 413).
    #[arg(long, default_value_t = 64)]
    max_body_mib: usize,
    /// Deadline of a request without a `deadline_ms` parameter, as a multiple of the model's
    /// fastest profiled latency.
    #[arg(long, default_value_t = 10.0)]
    slo_factor: f64,
}

/// `cosched-bench serve`.
pub fn serve(a: ServeArgs) -> anyhow::Result<()> {
    let device = DeviceProfile::load(&a.device).map_err(|e| BadInput(e.to_string()))?;
    if !a.models.is_dir() {
        return Err(BadInput(format!(
            "--models {}: no such folder (scripts/make-test-models.py writes models/)",
            a.models.display()
        ))
        .into());
    }
    if !(a.slo_factor.is_finite() && a.slo_factor > 0.0) {
        return Err(BadInput(format!("--slo-factor: must be > 0, got {}", a.slo_factor)).into());
    }
    let present: Vec<String> = device
        .models
        .iter()
        .map(|m| m.name.clone())
        .filter(|n| a.models.join(format!("{n}.onnx")).is_file())
        .collect();
    if present.is_empty() {
        return Err(BadInput(format!(
            "--models {}: none of the models of \"{}\" is there as <model>.onnx",
            a.models.display(),
            device.name
        ))
        .into());
    }
    let weights = ObjectiveWeights::parse(&a.objective).map_err(|e| BadInput(format!("--objective: {e}")))?;
    let policy = cosched::policies::resolve_policy_on(&a.policy, &device, weights, cosched::policies::Clock::Wall)
        .map_err(|e| BadInput(e.to_string()))?;
    let config = ExecutorConfig {
        models: Some(present),
        queue_capacity: a.queue_capacity.max(1),
        default_slo_factor: a.slo_factor,
        ..ExecutorConfig::new(policy)
    };
    let exec = Executor::new(&device, &a.models, config).map_err(|e| match e {
        ExecError::Thread(_) | ExecError::Environment(_) => anyhow::anyhow!(e),
        other => BadInput(other.to_string()).into(),
    })?;
    for s in exec.processor_status() {
        match (&s.active_ep, &s.error) {
            (Some(ep), _) => eprintln!("processor {}: {} (requested {})", s.id, ep, s.requested_ep),
            (None, Some(e)) => eprintln!("processor {}: masked out: {e}", s.id),
            _ => {}
        }
    }
    let server = Server::bind(
        exec,
        ServeConfig {
            listen: a.listen,
            max_in_flight: a.max_in_flight.max(1),
            max_body_bytes: a.max_body_mib.max(1) << 20,
            ..ServeConfig::default()
        },
    )?;
    let models = server.models();
    // Tests and scripts read the address from this line (with --listen ...:0).
    println!(
        "serving {} models ({}) on http://{} with policy {} (device {})",
        models.len(),
        models.join(", "),
        server.local_addr(),
        a.policy,
        device.name
    );
    let summary = server.run()?;
    let s = summary.executor;
    println!(
        "stopped: {} inferences answered; executor accepted {}, completed {}, failed {}, refused by full queues {}",
        summary.inferences, s.accepted, s.completed, s.failed, s.rejected
    );
    Ok(())
}
