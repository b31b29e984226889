//! Power sources and the energy meter that integrates them over a run.

use std::fmt;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::mpsc::{self, RecvTimeoutError};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

use crate::TelemetryError;

/// One reading of a power sensor: instantaneous power, a cumulative energy counter, or both.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct PowerSample {
    /// Instantaneous power, watts.
    pub power_w: Option<f64>,
    /// Value of a cumulative energy counter, joules (arbitrary origin).
    pub energy_j: Option<f64>,
    /// The counter wraps to zero after reaching this many joules (RAPL's `max_energy_range_uj`).
    pub energy_range_j: Option<f64>,
}

impl PowerSample {
    /// A sample holding only instantaneous power.
    pub fn power(watts: f64) -> PowerSample {
        PowerSample {
            power_w: Some(watts),
            ..PowerSample::default()
        }
    }

    /// A sample holding only a cumulative counter, with the value after which it wraps if known.
    pub fn energy(joules: f64, range_j: Option<f64>) -> PowerSample {
        PowerSample {
            energy_j: Some(joules),
            energy_range_j: range_j,
            ..PowerSample::default()
        }
    }
}

/// A sensor that reports the power of (part of) the board.
///
/// Implementations must not panic when their files vanish or hold garbage: they return an error,
/// which the meter logs and counts.
pub trait PowerSource: Send {
    /// A stable name that says which sensor this is, e.g. `ina3221:VDD_GPU_SOC`, `rapl:package-0`,
    /// `nvml:0`, `android:battery`. It ends up in the run report's `energy_source`.
    fn name(&self) -> String;

    /// Read the sensor now.
    fn sample(&mut self) -> Result<PowerSample, TelemetryError>;
}

/// Energy consumed between two readings of a cumulative counter, allowing one wrap-around.
///
/// `range_j` is the value at which the counter wraps to zero. A counter that went backwards
/// without a known range (a driver reload, a reset) gives `None`: the interval cannot be measured.
pub fn counter_delta(prev_j: f64, now_j: f64, range_j: Option<f64>) -> Option<f64> {
    if now_j >= prev_j {
        return Some(now_j - prev_j);
    }
    match range_j {
        // RAPL counts up to max_energy_range_uj and restarts at zero; between two samples taken
        // well within one wrap period (about a minute at 100+ W) at most one wrap can happen.
        Some(range) if range > prev_j => Some(range - prev_j + now_j),
        _ => None,
    }
}

/// Where the energy figure of a run comes from. Displays as the run report's `energy_source`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EnergySource {
    /// Measured by sensors; the names of those that contributed, joined by `+`.
    Measured(String),
    /// No sensor: energy comes from the device profile's power model.
    Modelled,
}

impl EnergySource {
    /// True for [`EnergySource::Measured`].
    pub fn is_measured(&self) -> bool {
        matches!(self, EnergySource::Measured(_))
    }
}

impl fmt::Display for EnergySource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            EnergySource::Measured(names) => write!(f, "measured:{names}"),
            EnergySource::Modelled => f.write_str("modelled"),
        }
    }
}

/// Integrates the samples of one source over time.
///
/// The [`EnergyMeter`] feeds it from its thread; it is public so that a caller with its own
/// sampling loop (or a test with its own clock) gets the same arithmetic.
#[derive(Debug, Clone)]
pub struct EnergyIntegrator {
    name: String,
    last: Option<(f64, PowerSample)>,
    first_t_s: Option<f64>,
    joules: f64,
    covered_s: f64,
    samples: u64,
    failed: u64,
}

impl EnergyIntegrator {
    /// An empty integrator for the source named `name`.
    pub fn new(name: impl Into<String>) -> EnergyIntegrator {
        EnergyIntegrator {
            name: name.into(),
            last: None,
            first_t_s: None,
            joules: 0.0,
            covered_s: 0.0,
            samples: 0,
            failed: 0,
        }
    }

    /// Add the result of sampling the source at time `t_s` (seconds, any origin, non-decreasing).
    pub fn push(&mut self, t_s: f64, sample: Result<PowerSample, TelemetryError>) {
        let sample = sample.and_then(|s| self.check(s));
        let s = match sample {
            Ok(s) => s,
            Err(e) => {
                self.failed += 1;
                // At 20 Hz a dead sensor would flood the log: warn once, then only at debug level.
                if self.failed == 1 {
                    tracing::warn!(source = %self.name, error = %e, "power sample failed");
                } else {
                    tracing::debug!(source = %self.name, error = %e, failures = self.failed, "power sample failed");
                }
                return;
            }
        };
        self.samples += 1;
        if let Some((t0, prev)) = self.last {
            let dt = t_s - t0;
            if dt > 0.0 {
                if let Some(e) = self.interval_energy(&prev, &s, dt) {
                    self.joules += e;
                    self.covered_s += dt;
                }
            }
        } else {
            self.first_t_s = Some(t_s);
        }
        self.last = Some((t_s, s));
    }

    fn check(&self, s: PowerSample) -> Result<PowerSample, TelemetryError> {
        let bad = |v: Option<f64>| v.is_some_and(|x| !x.is_finite() || x < 0.0);
        if bad(s.power_w) || bad(s.energy_j) || s.power_w.is_none() && s.energy_j.is_none() {
            return Err(TelemetryError::Implausible {
                sensor: self.name.clone(),
                detail: format!("{s:?}"),
            });
        }
        Ok(s)
    }

    fn interval_energy(&self, prev: &PowerSample, now: &PowerSample, dt: f64) -> Option<f64> {
        // A counter is exact whatever happened between the samples, so it wins over power.
        if let (Some(e0), Some(e1)) = (prev.energy_j, now.energy_j) {
            let range = now.energy_range_j.or(prev.energy_range_j);
            match counter_delta(e0, e1, range) {
                Some(d) => return Some(d),
                None => tracing::warn!(source = %self.name, prev = e0, now = e1, "energy counter went backwards"),
            }
        }
        match (prev.power_w, now.power_w) {
            (Some(p0), Some(p1)) => Some((p0 + p1) / 2.0 * dt),
            // A source that switched between counter and power readings: hold the known power.
            (Some(p), None) | (None, Some(p)) => Some(p * dt),
            (None, None) => None,
        }
    }

    /// The source's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Joules integrated over the intervals between good samples.
    pub fn joules(&self) -> f64 {
        self.joules
    }

    /// Seconds covered by intervals between good samples.
    pub fn covered_s(&self) -> f64 {
        self.covered_s
    }

    /// Good samples so far.
    pub fn samples(&self) -> u64 {
        self.samples
    }

    /// Failed samples so far.
    pub fn failed_samples(&self) -> u64 {
        self.failed
    }

    /// This source's energy over a run of `duration_s`, or `None` if it measured no interval.
    ///
    /// Time not covered by good samples (the sensor failed at the start or the end) is filled at
    /// the average power of the covered time, so a short outage does not read as zero watts, and
    /// time covered past the run's end is not charged.
    pub fn energy_over(&self, duration_s: f64) -> Option<f64> {
        if self.covered_s <= 0.0 {
            return None;
        }
        // At the mean power over the covered intervals, both ways: a run the samples did not
        // cover in full is filled in, and one the last sample overran (the sampling thread
        // woke late after the stop, on a loaded machine) is not charged for the overrun.
        Some(self.joules / self.covered_s * duration_s)
    }
}

/// The energy of one source over a run.
#[derive(Debug, Clone, PartialEq)]
pub struct SourceEnergy {
    /// The source's name.
    pub name: String,
    /// Its energy over the run, joules (`None` when it never produced a usable interval).
    pub joules: Option<f64>,
    /// Fraction of the run covered by intervals between good samples.
    pub coverage: f64,
    /// Good samples.
    pub samples: u64,
    /// Failed samples.
    pub failed_samples: u64,
}

/// The result of [`RunningMeter::stop`].
#[derive(Debug, Clone, PartialEq)]
pub struct EnergyReading {
    /// Energy over the run, joules (0 when [`EnergySource::Modelled`], until
    /// [`EnergyReading::or_modelled`] fills it in).
    pub joules: f64,
    /// `joules / duration_s`, watts.
    pub avg_power_w: f64,
    /// Length of the metered interval, seconds.
    pub duration_s: f64,
    /// Where `joules` comes from.
    pub source: EnergySource,
    /// Good samples over all sources.
    pub samples: u64,
    /// Failed samples over all sources.
    pub failed_samples: u64,
    /// Per source, including those that contributed nothing.
    pub per_source: Vec<SourceEnergy>,
}

impl EnergyReading {
    /// A reading with no sensor: zero joules, [`EnergySource::Modelled`].
    pub fn modelled(duration_s: f64) -> EnergyReading {
        EnergyReading {
            joules: 0.0,
            avg_power_w: 0.0,
            duration_s,
            source: EnergySource::Modelled,
            samples: 0,
            failed_samples: 0,
            per_source: Vec::new(),
        }
    }

    /// Put `modelled_j` (e.g. from [`crate::modelled_energy_j`]) in place of the energy when
    /// nothing was measured; a measured reading is returned unchanged.
    pub fn or_modelled(mut self, modelled_j: f64) -> EnergyReading {
        if self.source == EnergySource::Modelled {
            self.joules = modelled_j;
            self.avg_power_w = if self.duration_s > 0.0 {
                modelled_j / self.duration_s
            } else {
                0.0
            };
        }
        self
    }

    fn from_integrators(integrators: &[EnergyIntegrator], duration_s: f64) -> EnergyReading {
        let mut reading = EnergyReading::modelled(duration_s);
        let mut names = Vec::new();
        for it in integrators {
            let joules = it.energy_over(duration_s);
            if let Some(j) = joules {
                reading.joules += j;
                names.push(it.name().to_string());
            }
            reading.samples += it.samples();
            reading.failed_samples += it.failed_samples();
            reading.per_source.push(SourceEnergy {
                name: it.name().to_string(),
                joules,
                coverage: if duration_s > 0.0 {
                    (it.covered_s() / duration_s).min(1.0)
                } else {
                    0.0
                },
                samples: it.samples(),
                failed_samples: it.failed_samples(),
            });
        }
        if !names.is_empty() {
            reading.source = EnergySource::Measured(names.join("+"));
            reading.avg_power_w = if duration_s > 0.0 {
                reading.joules / duration_s
            } else {
                0.0
            };
        } else if !integrators.is_empty() {
            tracing::warn!("no power source produced a usable reading; energy will be modelled");
        }
        reading
    }
}

/// A set of power sources and a sampling period, ready to [`start`](EnergyMeter::start).
///
/// The energy of the sources is added up, so they must not overlap (e.g. one INA3221 total-input
/// rail, or NVML GPUs plus RAPL CPU packages); [`EnergyMeter::auto`] picks such a set.
pub struct EnergyMeter {
    sources: Vec<Box<dyn PowerSource>>,
    period: Duration,
}

impl fmt::Debug for EnergyMeter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("EnergyMeter")
            .field("sources", &self.source_names())
            .field("period", &self.period)
            .finish()
    }
}

impl EnergyMeter {
    /// The default sampling period. INA3221 and RAPL update every few milliseconds and NVML's
    /// power reading is averaged over about a second, so 50 ms resolves inference bursts without
    /// costing a core.
    pub const DEFAULT_PERIOD: Duration = Duration::from_millis(50);

    /// A meter over `sources`, sampled every `period` (at least 1 ms).
    pub fn new(sources: Vec<Box<dyn PowerSource>>, period: Duration) -> EnergyMeter {
        EnergyMeter {
            sources,
            period: period.max(Duration::from_millis(1)),
        }
    }

    /// A meter without sensors: its reading is [`EnergySource::Modelled`].
    pub fn modelled() -> EnergyMeter {
        EnergyMeter::new(Vec::new(), EnergyMeter::DEFAULT_PERIOD)
    }

    /// Change the sampling period (at least 1 ms).
    pub fn with_period(mut self, period: Duration) -> EnergyMeter {
        self.period = period.max(Duration::from_millis(1));
        self
    }

    /// The sampling period.
    pub fn period(&self) -> Duration {
        self.period
    }

    /// Names of the sources.
    pub fn source_names(&self) -> Vec<String> {
        self.sources.iter().map(|s| s.name()).collect()
    }

    /// What the reading will say if every source works: measured by these sources, or modelled.
    pub fn source(&self) -> EnergySource {
        if self.sources.is_empty() {
            EnergySource::Modelled
        } else {
            EnergySource::Measured(self.source_names().join("+"))
        }
    }

    /// Start sampling on a background thread.
    pub fn start(self) -> RunningMeter {
        let started = Instant::now();
        if self.sources.is_empty() {
            return RunningMeter {
                started,
                stop_tx: None,
                handle: None,
            };
        }
        let (stop_tx, stop_rx) = mpsc::channel::<()>();
        let period = self.period;
        let mut sources = self.sources;
        let spawned = thread::Builder::new().name("cosched-energy".into()).spawn(move || {
            let mut integrators: Vec<EnergyIntegrator> =
                sources.iter().map(|s| EnergyIntegrator::new(s.name())).collect();
            loop {
                sample_all(&mut sources, &mut integrators, started);
                match stop_rx.recv_timeout(period) {
                    Err(RecvTimeoutError::Timeout) => continue,
                    // Stop asked, or the RunningMeter was dropped.
                    Ok(()) | Err(RecvTimeoutError::Disconnected) => break,
                }
            }
            // One last sample so that the run's end is covered.
            sample_all(&mut sources, &mut integrators, started);
            integrators
        });
        match spawned {
            Ok(handle) => RunningMeter {
                started,
                stop_tx: Some(stop_tx),
                handle: Some(handle),
            },
            Err(e) => {
                tracing::warn!(error = %e, "cannot start the energy sampling thread; energy will be modelled");
                RunningMeter {
                    started,
                    stop_tx: None,
                    handle: None,
                }
            }
        }
    }
}

fn sample_all(sources: &mut [Box<dyn PowerSource>], integrators: &mut [EnergyIntegrator], started: Instant) {
    for (src, it) in sources.iter_mut().zip(integrators.iter_mut()) {
        let t = started.elapsed().as_secs_f64();
        // A third-party source that panics must not take the run's energy figure down with it.
        let result = catch_unwind(AssertUnwindSafe(|| src.sample())).unwrap_or_else(|_| {
            Err(TelemetryError::Implausible {
                sensor: it.name().to_string(),
                detail: "sampling panicked".into(),
            })
        });
        it.push(t, result);
    }
}

/// An [`EnergyMeter`] that is sampling. Dropping it stops the thread without a reading.
#[derive(Debug)]
pub struct RunningMeter {
    started: Instant,
    stop_tx: Option<mpsc::Sender<()>>,
    handle: Option<JoinHandle<Vec<EnergyIntegrator>>>,
}

impl RunningMeter {
    /// Time since [`EnergyMeter::start`].
    pub fn elapsed(&self) -> Duration {
        self.started.elapsed()
    }

    /// Stop sampling and return the energy since [`EnergyMeter::start`].
    pub fn stop(mut self) -> EnergyReading {
        let duration_s = self.started.elapsed().as_secs_f64();
        if let Some(tx) = self.stop_tx.take() {
            // The thread may already be gone (it panicked); the join below says so.
            let _ = tx.send(());
        }
        match self.handle.take().map(JoinHandle::join) {
            Some(Ok(integrators)) => EnergyReading::from_integrators(&integrators, duration_s),
            Some(Err(_)) => {
                tracing::warn!("the energy sampling thread panicked; energy will be modelled");
                EnergyReading::modelled(duration_s)
            }
            None => EnergyReading::modelled(duration_s),
        }
    }
}

impl Drop for RunningMeter {
    fn drop(&mut self) {
        if let Some(tx) = self.stop_tx.take() {
            let _ = tx.send(());
        }
        if let Some(h) = self.handle.take() {
            let _ = h.join();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counter_delta_handles_wrap_and_reset() {
        assert_eq!(counter_delta(10.0, 15.0, None), Some(5.0));
        assert_eq!(counter_delta(260.0, 2.0, Some(262.0)), Some(4.0));
        assert_eq!(counter_delta(10.0, 5.0, None), None);
    }

    #[test]
    fn integrator_trapezoid_is_exact_for_a_ramp() {
        // P(t) = 100 t W over 2 s: 200 J; the trapezoid rule is exact for a linear function.
        let mut it = EnergyIntegrator::new("ramp");
        for i in 0..=20 {
            let t = f64::from(i) * 0.1;
            it.push(t, Ok(PowerSample::power(100.0 * t)));
        }
        assert!((it.joules() - 200.0).abs() < 1e-9, "{}", it.joules());
        assert!((it.covered_s() - 2.0).abs() < 1e-9);
    }

    #[test]
    fn integrator_counts_failures_and_bridges_them() {
        let mut it = EnergyIntegrator::new("flaky");
        it.push(0.0, Ok(PowerSample::power(4.0)));
        it.push(0.5, Err(TelemetryError::NvmlUnavailable("gone".into())));
        it.push(0.7, Ok(PowerSample::power(f64::NAN)));
        it.push(1.0, Ok(PowerSample::power(4.0)));
        assert_eq!(it.failed_samples(), 2);
        assert_eq!(it.samples(), 2);
        assert!((it.joules() - 4.0).abs() < 1e-12);
    }

    #[test]
    fn energy_over_fills_uncovered_time_at_the_mean_power() {
        let mut it = EnergyIntegrator::new("late");
        it.push(1.0, Ok(PowerSample::power(2.0)));
        it.push(2.0, Ok(PowerSample::power(2.0)));
        assert_eq!(it.energy_over(3.0), Some(6.0));
        assert_eq!(EnergyIntegrator::new("none").energy_over(3.0), None);
    }

    #[test]
    fn energy_over_does_not_charge_a_last_sample_that_overran_the_run() {
        // A 5 W counter sampled until 1.5 s for a run that stopped at 1.0 s.
        let mut it = EnergyIntegrator::new("late-stop");
        it.push(0.0, Ok(PowerSample::energy(0.0, Some(100.0))));
        it.push(1.5, Ok(PowerSample::energy(7.5, Some(100.0))));
        assert_eq!(it.energy_over(1.0), Some(5.0));
    }

    #[test]
    fn reading_names_only_contributing_sources() {
        let mut a = EnergyIntegrator::new("rapl:package-0");
        a.push(0.0, Ok(PowerSample::energy(1.0, Some(100.0))));
        a.push(1.0, Ok(PowerSample::energy(11.0, Some(100.0))));
        let mut b = EnergyIntegrator::new("nvml:0");
        b.push(0.0, Err(TelemetryError::NvmlUnavailable("x".into())));
        let r = EnergyReading::from_integrators(&[a, b], 1.0);
        assert_eq!(r.source.to_string(), "measured:rapl:package-0");
        assert_eq!(r.joules, 10.0);
        assert_eq!(r.failed_samples, 1);
        assert_eq!(r.per_source.len(), 2);
        assert_eq!(r.per_source[1].joules, None);
    }

    #[test]
    fn modelled_reading_takes_the_model_value() {
        let r = EnergyReading::modelled(2.0).or_modelled(10.0);
        assert_eq!(r.source.to_string(), "modelled");
        assert_eq!(r.avg_power_w, 5.0);
    }
}
