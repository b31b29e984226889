//! The energy meter against fake sources with known power.

use std::time::{Duration, Instant};

use cosched_telemetry::{EnergyMeter, EnergySource, PowerSample, PowerSource, TelemetryError};

/// Constant power, failing every `fail_every`-th sample if non-zero.
struct ConstantPower {
    name: &'static str,
    watts: f64,
    fail_every: u32,
    calls: u32,
}

impl PowerSource for ConstantPower {
    fn name(&self) -> String {
        self.name.to_string()
    }

    fn sample(&mut self) -> Result<PowerSample, TelemetryError> {
        self.calls += 1;
        if self.fail_every > 0 && self.calls.is_multiple_of(self.fail_every) {
            return Err(TelemetryError::Implausible {
                sensor: self.name.into(),
                detail: "flaky".into(),
            });
        }
        Ok(PowerSample::power(self.watts))
    }
}

/// A RAPL-like counter: `watts` x time since creation, wrapping at `range_j`.
struct WrappingCounter {
    born: Instant,
    watts: f64,
    range_j: f64,
}

impl PowerSource for WrappingCounter {
    fn name(&self) -> String {
        "fake:counter".into()
    }

    fn sample(&mut self) -> Result<PowerSample, TelemetryError> {
        let j = self.watts * self.born.elapsed().as_secs_f64();
        Ok(PowerSample::energy(j % self.range_j, Some(self.range_j)))
    }
}

/// A source whose sampling panics.
struct Panicky;

impl PowerSource for Panicky {
    fn name(&self) -> String {
        "fake:panicky".into()
    }

    fn sample(&mut self) -> Result<PowerSample, TelemetryError> {
        panic!("sensor driver bug")
    }
}

fn within(actual: f64, expected: f64, rel: f64) -> bool {
    (actual - expected).abs() <= rel * expected
}

#[test]
fn constant_power_integrates_to_power_times_time_and_failures_are_counted() {
    let sources: Vec<Box<dyn PowerSource>> = vec![
        Box::new(ConstantPower {
            name: "fake:a",
            watts: 10.0,
            fail_every: 0,
            calls: 0,
        }),
        Box::new(ConstantPower {
            name: "fake:b",
            watts: 2.0,
            fail_every: 3,
            calls: 0,
        }),
    ];
    let meter = EnergyMeter::new(sources, Duration::from_millis(10));
    assert_eq!(meter.source().to_string(), "measured:fake:a+fake:b");
    let running = meter.start();
    std::thread::sleep(Duration::from_millis(150));
    let r = running.stop();
    assert_eq!(r.source, EnergySource::Measured("fake:a+fake:b".into()));
    assert!(r.duration_s >= 0.15, "{r:?}");
    assert!(within(r.joules, 12.0 * r.duration_s, 0.03), "{r:?}");
    assert!(within(r.avg_power_w, 12.0, 0.03), "{r:?}");
    assert!(r.failed_samples >= 1, "{r:?}");
    assert_eq!(r.per_source[1].failed_samples, r.failed_samples);
    assert!(r.samples >= 10, "{r:?}");
}

#[test]
fn a_wrapping_counter_is_differenced_across_wraps() {
    // 5 W against a 0.6 J range wraps every 120 ms: about twice in this run.
    let src = WrappingCounter {
        born: Instant::now(),
        watts: 5.0,
        range_j: 0.6,
    };
    let meter = EnergyMeter::new(vec![Box::new(src)], Duration::from_millis(10)).start();
    std::thread::sleep(Duration::from_millis(300));
    let r = meter.stop();
    assert!(r.joules > 0.6, "wraps were lost: {r:?}");
    assert!(within(r.joules, 5.0 * r.duration_s, 0.03), "{r:?}");
    assert_eq!(r.failed_samples, 0);
}

#[test]
fn a_panicking_source_does_not_take_the_meter_down() {
    let sources: Vec<Box<dyn PowerSource>> = vec![
        Box::new(Panicky),
        Box::new(ConstantPower {
            name: "fake:ok",
            watts: 1.0,
            fail_every: 0,
            calls: 0,
        }),
    ];
    let meter = EnergyMeter::new(sources, Duration::from_millis(10)).start();
    std::thread::sleep(Duration::from_millis(30));
    let r = meter.stop();
    assert_eq!(r.source.to_string(), "measured:fake:ok");
    assert!(r.failed_samples >= 2, "{r:?}");
}

#[test]
fn dropping_a_running_meter_stops_its_thread() {
    let src = ConstantPower {
        name: "fake:a",
        watts: 1.0,
        fail_every: 0,
        calls: 0,
    };
    let meter = EnergyMeter::new(vec![Box::new(src)], Duration::from_secs(10)).start();
    let t = Instant::now();
    drop(meter);
    // The thread waits on the stop channel, not a 10 s sleep.
    assert!(t.elapsed() < Duration::from_secs(2));
}
