//! Drive the simulator step by step, as a reinforcement-learning agent does.
//!
//! `cargo run --example rl_environment`

use cosched::sim::{SimConfig, SimEnv};
use cosched::{Action, DeviceProfile, Observation, Workload};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let device = DeviceProfile::builtin("android-flagship").ok_or("missing profile")?;
    let workload = Workload::builtin("bursty-multitenant")
        .ok_or("missing workload")?
        .resolve(&device, Some(0.7), "bursty")?;
    let mut env = SimEnv::new(&device, &workload, SimConfig::with_seed(3))?;
    let n_features = Observation::feature_len(device.processors.len(), device.models.len());
    let mut features = vec![0.0f32; n_features];
    let (mut steps, mut total_reward) = (0u64, 0.0);
    while let Some(obs) = env.observation() {
        // What a neural policy would read: a fixed-length vector plus the action mask.
        obs.encode(&mut features);
        // A stand-in for the network: the valid processor that finishes first.
        let processor = obs.argmin_valid(|v| v.est_finish_ms()).ok_or("no valid processor")?;
        let step = env.step(Action::to(processor));
        total_reward += step.reward;
        steps += 1;
        if step.done {
            break;
        }
    }
    let report = env.finish("earliest-finish (stepped)");
    println!("{steps} decisions over {n_features} features each, total reward {total_reward:.1}");
    println!(
        "objective {:.3}, violations {:.2}%",
        report.objective,
        report.slo_violation_rate * 100.0
    );
    Ok(())
}
