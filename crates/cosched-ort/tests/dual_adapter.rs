//! One state machine, two worlds: the same arrivals and the same service times through the
//! simulator and through the real executor (a fake backend whose batches end when the test says,
//! on a manual clock) give the same observations, decisions and outcomes.
//!
//! The test is a small discrete-event loop of its own around the executor: it submits each
//! arrival at its time, and ends each running batch at its start plus the profile's service time
//! for that batch (cv 0, no interference, so the simulator's service times are exactly these),
//! always the earliest event first, waiting after each step until the executor's workers have
//! taken up whatever the step started.

mod common;

use common::TestBackend;
use cosched_core::{
    baseline, Action, DeviceProfile, ModelId, Observation, Outcome, Policy, Processor, QueueOrder, ResolvedWorkload,
    StreamId, Workload,
};
use cosched_ort::backend::{Backend, BackendSession, Batch};
use cosched_ort::{BackendError, Completion, Executor, ExecutorConfig, ManualClock, Reply, ShutdownMode};
use cosched_sim::{simulate, SimConfig};
use crossbeam_channel::{bounded, Sender};
use ndarray::ArrayD;
use std::path::Path;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// Three processors of distinct speeds (one with two slots), batching on two of them, a model
/// the third cannot run. Latencies are chosen so that no two batches end at the same instant.
const DEVICE: &str = r#"
name = "dual"
source = "test"
[[processor]]
id = "big"
kind = "cpu"
ep = "cpu"
slots = 1
max_batch = 4
idle_power_w = 0.5
busy_power_w = 6.0
[[processor]]
id = "gpu"
kind = "gpu"
ep = "cpu"
slots = 2
max_batch = 4
idle_power_w = 1.0
busy_power_w = 9.0
[[processor]]
id = "dla"
kind = "npu"
ep = "cpu"
slots = 1
idle_power_w = 0.2
busy_power_w = 1.5
[[model]]
name = "a"
memory_mb = 1.0
latency_ms = { big = 4.31, gpu = 2.93, dla = 7.77 }
batch_alpha = { big = 0.1, gpu = 0.62 }
[[model]]
name = "b"
memory_mb = 1.0
latency_ms = { big = 9.13, gpu = 3.71 }
batch_alpha = { gpu = 0.55 }
"#;

const WORKLOAD: &str = r#"
name = "dual"
duration_s = 3.0
[[stream]]
name = "a-fast"
model = "a"
arrival = "poisson"
rate_hz = 300.0
slo_factor = 3.0
[[stream]]
name = "b-bursty"
model = "b"
arrival = "mmpp"
rates_hz = [40.0, 400.0]
dwell_s = [0.3, 0.1]
slo_factor = 6.0
"#;

/// What a policy saw and did, and what it was told.
#[derive(Debug, Default, Clone, PartialEq)]
struct Log {
    decisions: Vec<(Observation, Action)>,
    outcomes: Vec<Outcome>,
}

/// A policy that records everything through a shared log; with `alternate`, its queue order
/// changes every that many decisions (as the run-time guard's does when it switches).
struct Recording {
    inner: Box<dyn Policy>,
    log: Arc<Mutex<Log>>,
    alternate: Option<usize>,
    decisions: usize,
}

impl Policy for Recording {
    fn name(&self) -> &str {
        self.inner.name()
    }
    fn decide(&mut self, obs: &Observation) -> Action {
        let a = self.inner.decide(obs);
        self.log.lock().unwrap().decisions.push((obs.clone(), a));
        self.decisions += 1;
        a
    }
    fn observe(&mut self, outcome: &Outcome) {
        self.log.lock().unwrap().outcomes.push(*outcome);
        self.inner.observe(outcome);
    }
    fn queue_order(&self) -> QueueOrder {
        match self.alternate {
            Some(k) if (self.decisions / k) % 2 == 1 => QueueOrder::LeastSlackFirst,
            Some(_) => QueueOrder::Fifo,
            None => self.inner.queue_order(),
        }
    }
    fn reset(&mut self, seed: u64) {
        self.inner.reset(seed);
    }
}

/// `name`, recorded; `name/alternating` changes its queue order every 50 decisions.
fn recording(name: &str, dev: &DeviceProfile) -> (Box<dyn Policy>, Arc<Mutex<Log>>) {
    let log = Arc::new(Mutex::new(Log::default()));
    let (base, alternate) = match name.strip_suffix("/alternating") {
        Some(base) => (base, Some(50)),
        None => (name, None),
    };
    let inner = baseline(base, dev, Default::default()).expect("baseline");
    (
        Box::new(Recording {
            inner,
            log: log.clone(),
            alternate,
            decisions: 0,
        }),
        log,
    )
}

/// A batch that a fake worker is running, until the test releases it.
struct Running {
    processor: usize,
    model: ModelId,
    size: u32,
    start_ms: f64,
    release: Sender<()>,
}

/// Sessions whose batches run until released; `running` holds the batches running now.
fn lockstep(device: Arc<DeviceProfile>, clock: Arc<ManualClock>, running: Arc<Mutex<Vec<Running>>>) -> impl Backend {
    TestBackend {
        width: 1,
        open: move |processor: &Processor| -> Result<Box<dyn BackendSession>, BackendError> {
            Ok(Box::new(LockstepSession {
                processor: device.processor_id(&processor.id).expect("known processor").index(),
                clock: clock.clone(),
                running: running.clone(),
            }))
        },
    }
}

struct LockstepSession {
    processor: usize,
    clock: Arc<ManualClock>,
    running: Arc<Mutex<Vec<Running>>>,
}

impl BackendSession for LockstepSession {
    fn run(&mut self, batch: Batch<'_>) -> Result<Vec<Vec<ArrayD<f32>>>, BackendError> {
        let (tx, rx) = bounded(1);
        self.running.lock().unwrap().push(Running {
            processor: self.processor,
            model: batch.model(),
            size: batch.len() as u32,
            start_ms: self.clock.now_ms(),
            release: tx,
        });
        rx.recv().map_err(|_| BackendError::Run("the test went away".into()))?;
        Ok(batch.iter().map(|inputs| vec![&inputs[0] * 2.0]).collect())
    }
}

/// The service time of a batch in the simulator with cv 0 and no interference, computed the
/// way it computes it, so that end times agree to the bit.
fn service_ms(dev: &DeviceProfile, model: ModelId, processor: usize, size: u32) -> f64 {
    let on = dev.models[model.index()].on[processor].as_ref().expect("runs there");
    let factor = on.batch_alpha + (1.0 - on.batch_alpha) * f64::from(size);
    on.mean_ms * factor / 1.0 * 1.0
}

fn wait_until(what: &str, mut done: impl FnMut() -> bool) {
    let t0 = Instant::now();
    while !done() {
        assert!(t0.elapsed() < Duration::from_secs(20), "timed out waiting for {what}");
        std::thread::yield_now();
    }
}

/// Drive the executor through `arrivals` (time, model, stream, slo) in lockstep.
fn run_executor(
    dev: &DeviceProfile,
    w: &ResolvedWorkload,
    policy: Box<dyn Policy>,
    arrivals: &[(f64, ModelId, StreamId, f64)],
) {
    let clock = ManualClock::new();
    let running = Arc::new(Mutex::new(Vec::<Running>::new()));
    let backend = lockstep(Arc::new(dev.clone()), clock.clone(), running.clone());
    let config = ExecutorConfig {
        saturation_rps: w.saturation_rps,
        seed: 7,
        manual_clock: Some(clock.clone()),
        ..ExecutorConfig::new(policy)
    };
    let mut exec = Executor::with_backend(dev, Path::new("no-models"), config, Arc::new(backend)).expect("executor");
    let delivered = Arc::new(AtomicUsize::new(0));
    let reply = || {
        let d = delivered.clone();
        Reply::Callback(Box::new(move |c: Completion| {
            assert!(c.result.is_ok(), "request {} failed: {:?}", c.request.0, c.result.err());
            d.fetch_add(1, Ordering::SeqCst);
        }))
    };
    // Every batch the executor started has reached its worker.
    let settled = |exec: &Executor| {
        let load: u32 = exec.processor_load().iter().map(|l| l.running).sum();
        running.lock().unwrap().len() == load as usize
    };
    let mut next = 0;
    let mut expected = 0;
    loop {
        let first_end = {
            let r = running.lock().unwrap();
            r.iter()
                .enumerate()
                .map(|(i, j)| (j.start_ms + service_ms(dev, j.model, j.processor, j.size), i))
                .min_by(|a, b| a.0.total_cmp(&b.0))
        };
        let arrival = arrivals.get(next).map(|a| a.0);
        let arrival_first = match (arrival, first_end) {
            (None, None) => break,
            (Some(t), Some((e, _))) => t < e,
            (Some(_), None) => true,
            (None, Some(_)) => false,
        };
        if arrival_first {
            let (t, model, stream, slo) = arrivals[next];
            next += 1;
            clock.set_ms(t);
            let x = ArrayD::from_elem(vec![1, 1], next as f32);
            exec.submit_with_reply(model, stream, slo, vec![x], reply())
                .expect("accepted");
            expected += 1;
        } else {
            let (e, i) = first_end.expect("a batch ends next");
            clock.set_ms(e);
            let job = running.lock().unwrap().swap_remove(i);
            let before = delivered.load(Ordering::SeqCst);
            job.release.send(()).expect("worker waiting");
            let want = before + job.size as usize;
            wait_until("the batch's completions", || delivered.load(Ordering::SeqCst) >= want);
        }
        wait_until("the workers to take up the started batches", || settled(&exec));
    }
    assert_eq!(
        delivered.load(Ordering::SeqCst),
        expected,
        "every request completed once"
    );
    exec.shutdown(ShutdownMode::Drain);
}

#[test]
fn simulator_and_executor_make_the_same_decisions_and_outcomes() {
    let dev = DeviceProfile::from_toml_str(DEVICE, "dual.toml").expect("device");
    let w = Workload::from_toml_str(WORKLOAD, "dual.toml", None)
        .expect("workload")
        .resolve(&dev, Some(0.7), "dual.toml")
        .expect("resolves");
    // The last one changes its queue order mid-run, as the guard's does when it switches.
    for name in [
        "earliest-finish",
        "least-slack",
        "objective-greedy",
        "random",
        "earliest-finish/alternating",
    ] {
        let (mut sim_policy, sim_log) = recording(name, &dev);
        let config = SimConfig {
            drain_ms: Some(60_000.0),
            ..SimConfig::with_seed(7)
        };
        let report = simulate(&dev, &w, sim_policy.as_mut(), &config);
        assert_eq!(report.unfinished, 0, "{name}: the simulation drained");
        let sim = sim_log.lock().unwrap().clone();
        assert!(
            sim.decisions.len() > 500,
            "{name}: a real run ({} decisions)",
            sim.decisions.len()
        );
        assert!(
            sim.outcomes.iter().any(|o| o.batch > 1),
            "{name}: some batches formed, so batching is compared too"
        );
        let arrivals: Vec<_> = sim
            .decisions
            .iter()
            .map(|(o, _)| {
                (
                    o.request.arrival_ms,
                    o.request.model,
                    o.request.stream,
                    o.request.slo_ms,
                )
            })
            .collect();

        let (exec_policy, exec_log) = recording(name, &dev);
        run_executor(&dev, &w, exec_policy, &arrivals);
        let exec = exec_log.lock().unwrap().clone();

        assert_eq!(exec.decisions.len(), sim.decisions.len(), "{name}: decisions");
        for (i, (s, e)) in sim.decisions.iter().zip(&exec.decisions).enumerate() {
            assert_eq!(s, e, "{name}: decision {i} differs (simulator left, executor right)");
        }
        assert_eq!(exec.outcomes.len(), sim.outcomes.len(), "{name}: outcomes");
        for (i, (s, e)) in sim.outcomes.iter().zip(&exec.outcomes).enumerate() {
            assert_eq!(s, e, "{name}: outcome {i} differs (simulator left, executor right)");
        }
    }
}
