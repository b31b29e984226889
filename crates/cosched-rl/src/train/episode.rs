//! What a training episode runs: a workload (a generated scenario of the training family or a
//! built-in), a load, a length, and a board that differs from the profile.

use super::config::TrainConfig;
use crate::error::RlError;
use cosched_core::{Arrival, DeviceProfile, QueueOrder, Slo, Stream, Workload};
use cosched_sim::{SimConfig, SimEnv};
use rand::Rng;
use rand_chacha::ChaCha8Rng;
use std::sync::Arc;

/// One episode, ready to run.
pub(super) struct Episode {
    /// The workload's name.
    pub name: String,
    /// The load it runs at.
    pub load: f64,
    /// The simulator, on the episode's randomised board.
    pub env: SimEnv,
}

/// Draws the episode that starts when `progress_frac` of training is done: a random workload,
/// a load (curriculum: the upper end opens up over the first third of training), a duration
/// cut to about `cfg.episode_placements` requests, and a board that differs a little from the
/// profile.
pub(super) fn draw(cfg: &TrainConfig, progress_frac: f64, rng: &mut ChaCha8Rng) -> Result<Episode, RlError> {
    let device = &cfg.device;
    let (name, w) = if rng.random_bool(cfg.random_mix_fraction.clamp(0.0, 1.0)) {
        let w = match cfg.train_family {
            Some((seed, count)) => cosched_core::scenario::generate(device, seed, rng.random_range(0..count.max(1))),
            None => random_workload(device, rng),
        };
        (w.name.clone(), w)
    } else {
        let (n, w) = &cfg.workloads[rng.random_range(0..cfg.workloads.len())];
        (n.clone(), w.clone())
    };
    let hi = cfg.load.0 + (cfg.load.1 - cfg.load.0) * (progress_frac * 3.0).min(1.0);
    let load = rng.random_range(cfg.load.0..=hi.max(cfg.load.0));
    let mut w = w;
    w.duration_s = rng.random_range(cfg.episode_s.0..=cfg.episode_s.1);
    let mut resolved = w
        .resolve(device, Some(load), &name)
        .map_err(|e| RlError::Config(e.to_string()))?;
    // A closed loop offers nothing open-loop: it runs near the saturation throughput.
    let rate = if resolved.offered_rps > 0.0 {
        resolved.offered_rps
    } else {
        resolved.saturation_rps
    };
    if rate > 0.0 && cfg.episode_placements > 0.0 {
        resolved.duration_ms = resolved.duration_ms.min(1000.0 * cfg.episode_placements / rate);
    }
    let sim_cfg = SimConfig {
        weights: cfg.weights,
        true_device: Some(Arc::new(perturbed(device, cfg.perturb, rng))),
        ..SimConfig::with_seed(rng.random())
    };
    let env = SimEnv::with_queue_order(device, &resolved, sim_cfg, QueueOrder::LeastSlackFirst)
        .map_err(|e| RlError::Config(e.to_string()))?;
    Ok(Episode { name, load, env })
}

/// The device with every latency and power multiplied by U(1 - p, 1 + p).
pub fn perturbed(device: &DeviceProfile, p: f64, rng: &mut impl Rng) -> DeviceProfile {
    let mut d = device.clone();
    if p <= 0.0 {
        return d;
    }
    let f = |rng: &mut dyn rand::RngCore| 1.0 + rng.random_range(-p..p);
    for proc_ in &mut d.processors {
        let k = f(rng);
        proc_.idle_power_w *= k;
        proc_.busy_power_w *= k;
    }
    for m in &mut d.models {
        for o in m.on.iter_mut().flatten() {
            o.mean_ms *= f(rng);
        }
    }
    d
}

/// A random open-loop mix of the device's models (rates are relative: `--load` scales them).
pub fn random_workload(device: &DeviceProfile, rng: &mut impl Rng) -> Workload {
    let n_streams = rng.random_range(1..=4);
    let streams = (0..n_streams)
        .map(|i| {
            let model = &device.models[rng.random_range(0..device.models.len())].name;
            let rate = rng.random_range(1.0..20.0);
            let arrival = match rng.random_range(0..3) {
                0 => Arrival::Poisson { rate_hz: rate },
                1 => Arrival::Periodic { rate_hz: rate },
                _ => Arrival::Mmpp {
                    rates_hz: [rate * 0.5, rate * rng.random_range(2.0..6.0)],
                    dwell_s: [rng.random_range(0.5..4.0), rng.random_range(0.2..1.0)],
                },
            };
            Stream {
                name: format!("s{i}-{model}"),
                model: Some(model.clone()),
                arrival,
                slo: Slo::Factor(rng.random_range(2.0..15.0)),
            }
        })
        .collect();
    Workload {
        name: "random-mix".into(),
        description: "randomised training mix".into(),
        duration_s: 10.0,
        load: Some(0.7),
        streams,
    }
}
