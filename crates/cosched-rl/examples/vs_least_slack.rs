//! Compare a policy directory with least-slack in the simulator, on every built-in workload
//! (the held-out ones marked) at several loads, and with the policy's old clipped-prior
//! decision rule for reference.
//!
//! ```sh
//! cargo run --release -p cosched-rl --example vs_least_slack -- policies/jetson-agx-orin-balanced.policy jetson-agx-orin
//! ```

use cosched_core::{baseline, Action, DeviceProfile, Observation, Policy, ProcessorId, QueueOrder, Workload};
use cosched_rl::{load_policy, DrlPolicy, HELD_OUT_WORKLOADS};
use cosched_sim::{simulate, SimConfig};
use std::path::Path;

/// The decision rule before the unclipped prior: greedy over the encoded vector only.
struct Clipped(DrlPolicy, Vec<f32>, Vec<f32>, Vec<f32>);

impl Policy for Clipped {
    fn name(&self) -> &str {
        "clipped"
    }
    fn decide(&mut self, obs: &Observation) -> Action {
        obs.encode(&mut self.1);
        let n_models = self.0.n_models();
        let a = self
            .0
            .network()
            .greedy(&self.1, n_models, &mut self.2, &mut self.3)
            .unwrap_or(0);
        Action {
            processor: ProcessorId(a as u16),
        }
    }
    fn queue_order(&self) -> QueueOrder {
        QueueOrder::LeastSlackFirst
    }
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().collect();
    let device = DeviceProfile::builtin(&args[2]).ok_or("unknown device")?;
    let policy = load_policy(Path::new(&args[1]), &device)?;
    let net = policy.network().clone();
    let mut clipped = Clipped(
        policy.clone(),
        vec![0.0; net.inputs()],
        vec![0.0; net.scratch_len()],
        vec![0.0; net.actions()],
    );
    let mut drl = policy;
    println!(
        "{:<22} {:>5} {:>12} {:>12} {:>12} {:>7}",
        "workload", "load", "least-slack", "drl", "drl-clipped", "ratio"
    );
    let (mut sum, mut n) = (0.0, 0);
    let (mut sum_h, mut n_h) = (0.0, 0);
    for name in Workload::builtin_names() {
        let w = Workload::builtin(name).unwrap();
        for load in [0.5, 0.8, 0.95, 1.2] {
            let r = w.resolve(&device, Some(load), name)?;
            let mut seeds = (0.0, 0.0, 0.0);
            for seed in 1..=3 {
                let cfg = SimConfig::with_seed(seed);
                let mut ls = baseline("least-slack", &device, Default::default()).unwrap();
                seeds.0 += simulate(&device, &r, ls.as_mut(), &cfg).objective;
                seeds.1 += simulate(&device, &r, &mut drl, &cfg).objective;
                seeds.2 += simulate(&device, &r, &mut clipped, &cfg).objective;
            }
            let ratio = seeds.1 / seeds.0;
            let held = HELD_OUT_WORKLOADS.contains(&name);
            if held {
                sum_h += ratio;
                n_h += 1;
            } else {
                sum += ratio;
                n += 1;
            }
            println!(
                "{:<22} {:>5} {:>12.3} {:>12.3} {:>12.3} {:>7.3}",
                format!("{name}{}", if held { " (held out)" } else { "" }),
                load,
                seeds.0 / 3.0,
                seeds.1 / 3.0,
                seeds.2 / 3.0,
                ratio
            );
        }
    }
    println!(
        "mean drl/least-slack: training workloads {:.3}, held out {:.3}",
        sum / n as f64,
        sum_h / n_h.max(1) as f64
    );
    Ok(())
}
