//! Procedurally generated workloads ("scenarios"), so that a policy can be trained, selected
//! and tested on workloads nobody chose by hand, and anyone can regenerate a set from its seed.
//!
//! The distribution is specified in `docs/scenarios.md`; change both together, since a change
//! here silently changes every seed family (training, validation and test).
//!
//! Every random draw comes from the seed and the scenario's index alone, in an order that does
//! not depend on the device: the device only decides which model name a "light" or "heavy"
//! draw lands on. So a seed means the same scenario shapes on every board, and a set written
//! for one board resolves on any board with the same model names.

use crate::device::DeviceProfile;
use crate::ids::ModelId;
use crate::workload::{Arrival, Slo, Stream, Workload};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use std::path::PathBuf;
use std::sync::Arc;

/// Fewest and most streams of a scenario.
pub const STREAMS: (usize, usize) = (1, 6);
/// Range of `slo_factor`, sampled log-uniformly: from tight to loose.
pub const SLO_FACTOR: (f64, f64) = (2.0, 30.0);
/// Range of the arrival window, whole seconds, uniform.
pub const DURATION_S: (u32, u32) = (20, 120);
/// Range of the workload-level `load`, uniform.
pub const LOAD: (f64, f64) = (0.3, 1.0);

/// Which weight class of models a scenario draws from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mix {
    /// Every stream runs one of the lighter half of the device's models.
    Light,
    /// Every stream runs one of the heavier half.
    Heavy,
    /// Each stream picks its class by a coin flip, with at least one of each when there are
    /// two streams or more.
    Mixed,
}

impl Mix {
    /// The name used in scenario descriptions.
    pub fn as_str(self) -> &'static str {
        match self {
            Mix::Light => "light",
            Mix::Heavy => "heavy",
            Mix::Mixed => "mixed",
        }
    }
}

/// Arrival kinds and their probabilities per stream (they add up to 1).
const KINDS: [(Kind, f64); 5] = [
    (Kind::Poisson, 0.25),
    (Kind::Periodic, 0.20),
    (Kind::Mmpp, 0.25),
    (Kind::Closed, 0.10),
    (Kind::Trace, 0.20),
];

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Poisson,
    Periodic,
    Mmpp,
    Closed,
    Trace,
}

impl Kind {
    fn as_str(self) -> &'static str {
        match self {
            Kind::Poisson => "poisson",
            Kind::Periodic => "periodic",
            Kind::Mmpp => "mmpp",
            Kind::Closed => "closed",
            Kind::Trace => "trace",
        }
    }
}

/// The name of scenario `index` of seed `seed`.
pub fn scenario_name(seed: u64, index: u64) -> String {
    format!("scn-{seed}-{index}")
}

/// Scenarios `0..count` of `seed` for `device`.
pub fn generate_set(device: &DeviceProfile, seed: u64, count: u64) -> Vec<Workload> {
    (0..count).map(|i| generate(device, seed, i)).collect()
}

/// Scenario `index` of `seed` for `device`; trace streams carry their events in memory, with
/// a file name (relative) that [`Workload::write_to_dir`] writes them to.
pub fn generate(device: &DeviceProfile, seed: u64, index: u64) -> Workload {
    // One ChaCha stream per index: scenario i never depends on how many came before it.
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    rng.set_stream(index);
    let name = scenario_name(seed, index);
    let (light, heavy) = weight_classes(device);

    let n = rng.random_range(STREAMS.0..=STREAMS.1);
    let mix = match rng.random_range(0..3) {
        0 => Mix::Light,
        1 => Mix::Heavy,
        _ => Mix::Mixed,
    };
    let duration_s = f64::from(rng.random_range(DURATION_S.0..=DURATION_S.1));
    let load = round_decimals(rng.random_range(LOAD.0..=LOAD.1), 2);

    let mut kinds: Vec<Kind> = (0..n).map(|_| draw_kind(&mut rng)).collect();
    // A scenario of closed loops only would ignore its load (and every --loads value).
    if kinds.iter().all(|k| *k == Kind::Closed) {
        let open = [Kind::Poisson, Kind::Periodic, Kind::Mmpp, Kind::Trace];
        kinds[n - 1] = open[rng.random_range(0..open.len())];
    }
    let mut heavy_stream: Vec<bool> = match mix {
        Mix::Light => vec![false; n],
        Mix::Heavy => vec![true; n],
        Mix::Mixed => (0..n).map(|_| rng.random_bool(0.5)).collect(),
    };
    if mix == Mix::Mixed && n >= 2 && heavy_stream.iter().all(|h| *h == heavy_stream[0]) {
        heavy_stream[n - 1] = !heavy_stream[0];
    }

    let mut streams = Vec::with_capacity(n);
    for (i, (&kind, &is_heavy)) in kinds.iter().zip(&heavy_stream).enumerate() {
        let class = if is_heavy { &heavy } else { &light };
        let pick: f64 = rng.random();
        let model = device.models[class[((pick * class.len() as f64) as usize).min(class.len() - 1)].index()]
            .name
            .clone();
        let slo_factor = round_decimals(log_uniform(&mut rng, SLO_FACTOR.0, SLO_FACTOR.1), 2);
        // Relative rates: the load scales them to the device, so only their ratios matter.
        let rate_hz = round_decimals(log_uniform(&mut rng, 1.0, 100.0), 2);
        let stream_name = format!("s{i}-{}", kind.as_str());
        let arrival = match kind {
            Kind::Poisson => Arrival::Poisson { rate_hz },
            Kind::Periodic => Arrival::Periodic { rate_hz },
            Kind::Mmpp => {
                let burst = log_uniform(&mut rng, 2.0, 20.0);
                Arrival::Mmpp {
                    rates_hz: [rate_hz, round_decimals(rate_hz * burst, 2)],
                    dwell_s: [
                        round_decimals(log_uniform(&mut rng, 0.5, 10.0), 2),
                        round_decimals(log_uniform(&mut rng, 0.1, 2.0), 2),
                    ],
                }
            }
            Kind::Closed => Arrival::Closed {
                concurrency: rng.random_range(1..=4),
            },
            Kind::Trace => {
                // Its own generator, so the number of events never shifts later draws.
                let mut trace_rng = ChaCha8Rng::from_seed(rng.random());
                let events = synthetic_trace(&mut trace_rng, rate_hz, duration_s)
                    .into_iter()
                    .map(|t| (t, model.clone()))
                    .collect();
                Arrival::Trace {
                    file: PathBuf::from(format!("{name}-{stream_name}.csv")),
                    events: Arc::new(events),
                }
            }
        };
        streams.push(Stream {
            name: stream_name,
            model: Some(model),
            arrival,
            slo: Slo::Factor(slo_factor),
        });
    }
    Workload {
        description: format!(
            "generated scenario {index} of seed {seed}: {n} stream(s), {} models",
            mix.as_str()
        ),
        name,
        duration_s,
        load: Some(load),
        streams,
    }
}

/// The device's models split by their fastest latency into the lighter and the heavier half
/// (the middle one in both when the count is odd, so a one-model device still has both).
fn weight_classes(device: &DeviceProfile) -> (Vec<ModelId>, Vec<ModelId>) {
    let mut ids: Vec<ModelId> = (0..device.models.len()).map(|m| ModelId(m as u16)).collect();
    // Ties broken by name, so that the order of models in the profile file does not matter.
    ids.sort_by(|a, b| {
        device
            .best_latency_ms(*a)
            .total_cmp(&device.best_latency_ms(*b))
            .then_with(|| device.models[a.index()].name.cmp(&device.models[b.index()].name))
    });
    let n = ids.len();
    (ids[..n.div_ceil(2)].to_vec(), ids[n / 2..].to_vec())
}

fn draw_kind(rng: &mut ChaCha8Rng) -> Kind {
    let u: f64 = rng.random();
    let mut acc = 0.0;
    for (kind, p) in KINDS {
        acc += p;
        if u < acc {
            return kind;
        }
    }
    KINDS[KINDS.len() - 1].0
}

/// Arrival times (ms, sorted, rounded to the microsecond) of a non-homogeneous Poisson process
/// of mean rate about `rate_hz`: a sinusoidal swing, as in a day of traffic compressed, and
/// in half of the traces a flash crowd, the two things a stationary process never shows.
fn synthetic_trace(rng: &mut ChaCha8Rng, rate_hz: f64, duration_s: f64) -> Vec<f64> {
    let period_s = log_uniform(rng, 5.0, 60.0);
    let swing = rng.random_range(0.3..0.9);
    let phase = rng.random_range(0.0..std::f64::consts::TAU);
    let crowd = rng.random_bool(0.5).then(|| {
        let len_s = rng.random_range(1.0..5.0);
        let start_s = rng.random_range(0.0..(duration_s - len_s).max(1.0));
        (start_s, start_s + len_s, rng.random_range(3.0..10.0))
    });
    let peak = rate_hz * (1.0 + swing) * crowd.map_or(1.0, |c| c.2);
    let rate_at = |t: f64| {
        let base = rate_hz * (1.0 + swing * (std::f64::consts::TAU * t / period_s + phase).sin());
        match crowd {
            Some((a, b, k)) if (a..b).contains(&t) => base * k,
            _ => base,
        }
    };
    // Thinning: candidates at the peak rate, each kept with probability rate(t) / peak.
    let mut events = Vec::new();
    let mut t = 0.0;
    loop {
        let u: f64 = rng.random();
        t += -(1.0 - u).ln() / peak;
        if t >= duration_s {
            break;
        }
        if rng.random::<f64>() * peak < rate_at(t) {
            events.push(round_decimals(t * 1000.0, 3));
        }
    }
    if events.is_empty() {
        // A trace needs at least one arrival to be a valid file.
        events.push(0.0);
    }
    events
}

fn log_uniform(rng: &mut ChaCha8Rng, lo: f64, hi: f64) -> f64 {
    (rng.random_range(lo.ln()..=hi.ln())).exp().clamp(lo, hi)
}

/// Round to `digits` decimals, so that generated files stay readable.
fn round_decimals(x: f64, digits: i32) -> f64 {
    let f = 10f64.powi(digits);
    (x * f).round() / f
}
