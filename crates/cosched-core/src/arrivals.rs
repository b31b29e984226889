//! The arrival process of one stream, shared by the simulator and the real driver, so that the
//! same seed gives the same arrivals in both worlds by construction.

use crate::ids::ModelId;
use crate::workload::ResolvedArrival;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use rand_distr::{Distribution, Exp1};
use std::sync::Arc;

/// A reproducible random stream for one purpose (`salt`) of a run seeded with `seed`: stream
/// `i`'s arrivals use salt `i`, so they never depend on a policy's choices and every policy is
/// compared on identical arrivals.
pub fn seeded_rng(seed: u64, salt: u64) -> ChaCha8Rng {
    ChaCha8Rng::seed_from_u64(seed.wrapping_mul(0x9e37_79b9_7f4a_7c15).wrapping_add(salt))
}

/// An exponential sample with this mean.
#[inline]
pub fn exp_sample(rng: &mut ChaCha8Rng, mean: f64) -> f64 {
    let e: f64 = Exp1.sample(rng);
    e * mean
}

#[derive(Debug, Clone)]
enum Gen {
    Poisson {
        rate_per_ms: f64,
    },
    Periodic {
        period_ms: f64,
    },
    Mmpp {
        rate_per_ms: [f64; 2],
        dwell_ms: [f64; 2],
        state: usize,
        state_end_ms: f64,
    },
    Closed,
    Trace {
        events: Arc<Vec<(f64, ModelId)>>,
        repeat_ms: Option<f64>,
        next: usize,
    },
}

/// The open-loop arrival times of one stream, drawn lazily one after the other.
///
/// A closed-loop stream has none: its requests arrive when earlier ones complete, which only
/// the caller knows.
///
/// ```
/// use cosched_core::arrivals::StreamArrivals;
/// use cosched_core::ResolvedArrival;
/// let mut s = StreamArrivals::new(&ResolvedArrival::Poisson { rate_per_ms: 0.1 }, 1, 0);
/// let (t1, _) = s.first(1000.0).unwrap();
/// let (t2, _) = s.next_after(t1, 1000.0).unwrap();
/// assert!(t2 > t1);
/// ```
#[derive(Debug, Clone)]
pub struct StreamArrivals {
    gen: Gen,
    rng: ChaCha8Rng,
}

impl StreamArrivals {
    /// Stream number `stream` of a run seeded with `seed`.
    pub fn new(arrival: &ResolvedArrival, seed: u64, stream: usize) -> StreamArrivals {
        let mut rng = seeded_rng(seed, stream as u64);
        let gen = match arrival {
            ResolvedArrival::Poisson { rate_per_ms } => Gen::Poisson {
                rate_per_ms: *rate_per_ms,
            },
            ResolvedArrival::Periodic { period_ms } => Gen::Periodic { period_ms: *period_ms },
            ResolvedArrival::Mmpp { rate_per_ms, dwell_ms } => {
                // Start in each state with its stationary probability.
                let state = usize::from(rng.random_bool(dwell_ms[1] / (dwell_ms[0] + dwell_ms[1])));
                let state_end_ms = exp_sample(&mut rng, dwell_ms[state]);
                Gen::Mmpp {
                    rate_per_ms: *rate_per_ms,
                    dwell_ms: *dwell_ms,
                    state,
                    state_end_ms,
                }
            }
            ResolvedArrival::Closed { .. } => Gen::Closed,
            ResolvedArrival::Trace { events, repeat_ms } => Gen::Trace {
                events: events.clone(),
                repeat_ms: repeat_ms.filter(|p| *p > 0.0),
                next: 0,
            },
        };
        StreamArrivals { gen, rng }
    }

    /// Whether the stream is a closed loop (no open-loop arrivals).
    #[inline]
    pub fn is_closed(&self) -> bool {
        matches!(self.gen, Gen::Closed)
    }

    /// The first arrival before `duration_ms`: its time and, for a trace, its model (`None`:
    /// the stream's model). `None` when there is none.
    pub fn first(&mut self, duration_ms: f64) -> Option<(f64, Option<ModelId>)> {
        if let Gen::Periodic { period_ms } = self.gen {
            // A random phase, so that periodic streams do not all fire at t = 0.
            let phase = self.rng.random::<f64>() * period_ms;
            return (phase < duration_ms).then_some((phase, None));
        }
        self.next_after(0.0, duration_ms)
    }

    /// The arrival after the one at `from`, if it falls before `duration_ms`.
    #[inline]
    pub fn next_after(&mut self, from: f64, duration_ms: f64) -> Option<(f64, Option<ModelId>)> {
        let rng = &mut self.rng;
        let (t, model) = match &mut self.gen {
            Gen::Poisson { rate_per_ms } => (from + exp_sample(rng, 1.0 / *rate_per_ms), None),
            Gen::Periodic { period_ms } => (from + *period_ms, None),
            Gen::Mmpp {
                rate_per_ms,
                dwell_ms,
                state,
                state_end_ms,
            } => {
                // Memorylessness lets us redraw the gap after every state switch.
                let mut t = from;
                loop {
                    let gap = exp_sample(rng, 1.0 / rate_per_ms[*state]);
                    if t + gap < *state_end_ms {
                        break (t + gap, None);
                    }
                    t = *state_end_ms;
                    *state ^= 1;
                    *state_end_ms = t + exp_sample(rng, dwell_ms[*state]);
                    if t >= duration_ms {
                        break (t, None);
                    }
                }
            }
            Gen::Closed => return None,
            Gen::Trace {
                events,
                repeat_ms,
                next,
            } => {
                let (t, m) = match repeat_ms {
                    None => *events.get(*next)?,
                    Some(period) => {
                        let (t, m) = *events.get(*next % events.len().max(1))?;
                        (t + (*next / events.len()) as f64 * *period, m)
                    }
                };
                *next += 1;
                (t, Some(m))
            }
        };
        (t < duration_ms).then_some((t, model))
    }
}
