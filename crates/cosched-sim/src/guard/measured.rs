//! The board as measured: how far the service times are from the profile.

use cosched_core::{DeviceProfile, Outcome};

/// How far the board is from its profile, per model and processor, smoothed, to correct the
/// profile the replays run on.
///
/// It keeps the ratio of each measured service time to what the profile predicts for that run
/// (`Outcome::expected_service_ms`: batch, frequency and memory interference included), not the
/// service time itself: the replay applies interference and frequency again, so a replay on raw
/// measurements would count the live policy's own contention twice, and make the processors it
/// uses look slower than the ones it leaves idle (on the validation scenarios that bias cost the
/// guard more than the correction gained, docs/guard.md).
#[derive(Debug, Clone)]
pub(super) struct Measured {
    n_proc: usize,
    /// (samples, smoothed ratio of measured to predicted service time).
    per_pair: Vec<(u32, f64)>,
}

impl Measured {
    /// Pairs with fewer samples keep the profile's figure.
    const MIN_SAMPLES: u32 = 10;
    const ALPHA: f64 = 0.05;

    pub(super) fn new(device: &DeviceProfile) -> Measured {
        let n_proc = device.processors.len();
        Measured {
            n_proc,
            per_pair: vec![(0, 0.0); n_proc * device.models.len()],
        }
    }

    pub(super) fn record(&mut self, o: &Outcome) {
        let Some(e) = self
            .per_pair
            .get_mut(o.model.index() * self.n_proc + o.processor.index())
        else {
            return;
        };
        let x = o.service_ms / o.expected_service_ms;
        if !x.is_finite() || x <= 0.0 {
            return;
        }
        *e = if e.0 == 0 {
            (1, x)
        } else {
            (e.0.saturating_add(1), e.1 + Self::ALPHA * (x - e.1))
        };
    }

    /// The profile with every well-measured latency scaled by its measured ratio.
    pub(super) fn corrected(&self, device: &DeviceProfile) -> DeviceProfile {
        let mut d = device.clone();
        for (m, model) in d.models.iter_mut().enumerate() {
            for (p, on) in model.on.iter_mut().enumerate() {
                let (n, ratio) = self.per_pair[m * self.n_proc + p];
                if let Some(on) = on.as_mut().filter(|_| n >= Self::MIN_SAMPLES) {
                    on.mean_ms = (on.mean_ms * ratio).max(1e-3);
                }
            }
        }
        d
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use cosched_core::{ModelId, RequestId, StreamId};

    fn outcome(model: u16, processor: u16, service_ms: f64, expected_service_ms: f64) -> Outcome {
        Outcome {
            request: RequestId(0),
            model: ModelId(model),
            stream: StreamId(0),
            processor: cosched_core::ProcessorId(processor),
            latency_ms: service_ms,
            slo_ms: 100.0,
            energy_j: 0.1,
            service_ms,
            batch: 1,
            expected_service_ms,
            reference_energy_j: 0.1,
            violated: false,
        }
    }

    #[test]
    fn the_correction_scales_the_profile_by_the_measured_ratio_once_well_measured() {
        let device = DeviceProfile::builtin("jetson-agx-orin").unwrap();
        let (m, p) = (0usize, 1usize);
        let profile_ms = device.models[m].on[p]
            .as_ref()
            .expect("model 0 runs on the GPU")
            .mean_ms;
        let mut measured = Measured::new(&device);
        // Measured 1.2x what the profile predicted for those runs, whatever their contention.
        for i in 0..Measured::MIN_SAMPLES {
            let expected = 10.0 + f64::from(i);
            measured.record(&outcome(m as u16, p as u16, 1.2 * expected, expected));
            let d = measured.corrected(&device);
            let got = d.models[m].on[p].as_ref().unwrap().mean_ms;
            if i + 1 < Measured::MIN_SAMPLES {
                assert_eq!(got, profile_ms, "too few samples: the profile stands");
            } else {
                assert!((got / profile_ms - 1.2).abs() < 1e-9, "{got} vs {profile_ms}");
            }
        }
        // A request that never ran says nothing about speed.
        let before = measured.per_pair.clone();
        measured.record(&outcome(m as u16, p as u16, 0.0, 0.0));
        assert_eq!(measured.per_pair, before);
        // The other pairs keep the profile's figure.
        let d = measured.corrected(&device);
        assert_eq!(d.models[1].on[p], device.models[1].on[p]);
    }
}
