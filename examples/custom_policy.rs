//! Write your own scheduling policy and compare it with the built-in baselines in the simulator.
//!
//! `cargo run --example custom_policy`

use cosched::sim::{simulate, SimConfig};
use cosched::{baseline, Action, DeviceProfile, Observation, Policy, ProcessorKind, Workload};

/// Keeps the GPU free for requests with tight deadlines: a loose request goes to the other
/// processor that finishes it first, as long as that still meets its deadline; otherwise, and
/// for tight requests, wherever it finishes first. A hand-written "home processor" rule.
struct GpuForTightDeadlines {
    kinds: Vec<ProcessorKind>,
    tight_ms: f64,
}

impl Policy for GpuForTightDeadlines {
    fn name(&self) -> &str {
        "gpu-for-tight-deadlines"
    }

    fn decide(&mut self, obs: &Observation) -> Action {
        let earliest = obs
            .argmin_valid(|v| v.est_finish_ms())
            .expect("the simulator only asks when a processor can run the request");
        if obs.request.slo_ms <= self.tight_ms {
            return Action::to(earliest);
        }
        let budget = obs.request.deadline_ms() - obs.now_ms;
        let off_gpu = obs
            .valid()
            .filter(|p| self.kinds[p.index()] != ProcessorKind::Gpu)
            .min_by(|a, b| {
                let fa = obs.processors[a.index()].est_finish_ms();
                let fb = obs.processors[b.index()].est_finish_ms();
                fa.total_cmp(&fb)
            })
            .filter(|p| obs.processors[p.index()].est_finish_ms() <= budget);
        Action::to(off_gpu.unwrap_or(earliest))
    }
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let device = DeviceProfile::builtin("jetson-agx-orin").ok_or("missing profile")?;
    let workload =
        Workload::builtin("mixed-slo")
            .ok_or("missing workload")?
            .resolve(&device, Some(0.8), "mixed-slo")?;
    let config = SimConfig::with_seed(42);
    let mut mine = GpuForTightDeadlines {
        kinds: device.processors.iter().map(|p| p.kind).collect(),
        tight_ms: 5.0,
    };
    let mut reports = vec![simulate(&device, &workload, &mut mine, &config)];
    for name in ["earliest-finish", "least-slack", "objective-greedy"] {
        let mut p = baseline(name, &device, config.weights).ok_or("unknown baseline")?;
        reports.push(simulate(&device, &workload, &mut *p, &config));
    }
    println!("{:<26} {:>9} {:>7} {:>9}", "policy", "objective", "viol%", "p99 ms");
    for r in &reports {
        println!(
            "{:<26} {:>9.3} {:>7.2} {:>9.2}",
            r.policy,
            r.objective,
            r.slo_violation_rate * 100.0,
            r.latency_ms.p99
        );
    }
    Ok(())
}
