//! Closed-loop throughput of the real executor against the same ONNX Runtime sessions called
//! directly in a tight loop with the same total threads (the bar: executor >= 95% of direct).
//!
//! ```sh
//! cargo run --release --example throughput_vs_direct -- [POLICY[,POLICY...]]
//! ```
//!
//! POLICY is a baseline name (default `least-loaded`; e.g. `least-loaded,earliest-finish` to
//! compare two). `ROUNDS` (default 3) and `ROUND_SECS` (default 8) set the schedule.
//!
//! Both sides run resnet50 + shufflenet at a 1:1 mix by count on `devices/host-cpu.toml` (two
//! single-threaded CPU processors), in one process, in interleaved rounds (direct, executor per
//! policy, direct, ...) so that background load on the host hits both sides alike:
//!
//! - direct: two OS threads, one per processor, each owning its own resnet50 and shufflenet
//!   sessions built like the executor builds them (1 intra-op thread, 1 inter-op thread, no
//!   intra-op spinning, all graph optimisations) and alternating the two models back to back
//!   (the second thread starts with shufflenet, so the threads are out of phase);
//! - executor: `cosched_ort::Executor` with only those two models and the policy, kept at 4
//!   outstanding requests by 4 submitter threads that each alternate the two models and resubmit
//!   as soon as their ticket completes (two start with resnet50, two with shufflenet), so 2 of
//!   each are outstanding at the start and the completed mix stays 1:1.
//!
//! Only inferences that complete inside a round's window count. Per round it prints
//! inferences/s, per-model counts and mean service times, and how busy each processor (thread)
//! was; at the end the mean executor/direct ratio per policy.

use cosched::{baseline, DeviceProfile};
use cosched_ort::{Executor, ExecutorConfig, Inputs};
use std::path::PathBuf;
use std::sync::Barrier;
use std::time::{Duration, Instant};

const MODELS: [&str; 2] = ["resnet50", "shufflenet"];

/// Counts of one round.
#[derive(Default, Clone)]
struct Round {
    secs: f64,
    /// Completed inside the window, per model (order of `MODELS`).
    count: [u64; 2],
    /// Summed service time of those, per model, ms.
    service_ms: [f64; 2],
    /// Busy time per processor / thread inside the window, ms.
    busy_ms: Vec<f64>,
}

impl Round {
    fn total(&self) -> u64 {
        self.count.iter().sum()
    }
    fn rate(&self) -> f64 {
        self.total() as f64 / self.secs
    }
    fn describe(&self) -> String {
        let mean = |i: usize| self.service_ms[i] / self.count[i].max(1) as f64;
        let busy: Vec<String> = self
            .busy_ms
            .iter()
            .map(|b| format!("{:.0}%", 100.0 * b / (self.secs * 1000.0)))
            .collect();
        format!(
            "{:7.2} inf/s | resnet50 {:4} x {:6.2} ms, shufflenet {:4} x {:5.2} ms | busy {}",
            self.rate(),
            self.count[0],
            mean(0),
            self.count[1],
            mean(1),
            busy.join(" ")
        )
    }
}

fn env_or<T: std::str::FromStr>(name: &str, default: T) -> T {
    std::env::var(name).ok().and_then(|v| v.parse().ok()).unwrap_or(default)
}

fn build_session(env: &ort::environment::Environment, path: &std::path::Path) -> ort::session::Session {
    use ort::session::builder::GraphOptimizationLevel;
    // The same options as cosched_ort's SessionSpec::build with the default ExecutorConfig and
    // host-cpu's `threads = 1`.
    ort::session::Session::builder(env)
        .and_then(|b| b.with_intra_threads(1).map_err(Into::into))
        .and_then(|b| b.with_inter_threads(1).map_err(Into::into))
        .and_then(|b| b.with_intra_op_spinning(false).map_err(Into::into))
        .and_then(|b| {
            b.with_optimization_level(GraphOptimizationLevel::All)
                .map_err(Into::into)
        })
        .and_then(|mut b| b.commit_from_file(path))
        .expect("direct session")
}

fn run_direct_once(session: &mut ort::session::Session, inputs: &Inputs) {
    let values: Vec<ort::session::SessionInputValue<'_>> = inputs
        .iter()
        .map(|a| ort::value::TensorRef::from_array_view(a).expect("tensor").into())
        .collect();
    let out = session.run(values.as_slice()).expect("run");
    // Copy the outputs out as the executor does for its completions.
    let owned: Vec<_> = out
        .values()
        .map(|v| v.try_extract_array::<f32>().expect("f32").to_owned())
        .collect();
    std::hint::black_box(owned);
}

/// Two threads, each alternating its own resnet50 and shufflenet sessions for `secs`.
fn direct_round(sessions: &mut [[ort::session::Session; 2]], inputs: &[Inputs; 2], secs: f64) -> Round {
    let barrier = Barrier::new(sessions.len() + 1);
    let window = Duration::from_secs_f64(secs);
    let per_thread: Vec<Round> = std::thread::scope(|scope| {
        let handles: Vec<_> = sessions
            .iter_mut()
            .enumerate()
            .map(|(k, pair)| {
                let barrier = &barrier;
                scope.spawn(move || {
                    let mut r = Round {
                        busy_ms: vec![0.0],
                        ..Round::default()
                    };
                    barrier.wait();
                    let t0 = Instant::now();
                    // Thread k starts with model k % 2, as the executor's submitters do.
                    let mut m = k % 2;
                    loop {
                        let s = Instant::now();
                        run_direct_once(&mut pair[m], &inputs[m]);
                        let e = Instant::now();
                        if e - t0 > window {
                            // Only the part inside the window was busy time.
                            r.busy_ms[0] += (t0 + window).saturating_duration_since(s).as_secs_f64() * 1000.0;
                            break;
                        }
                        let ms = (e - s).as_secs_f64() * 1000.0;
                        r.count[m] += 1;
                        r.service_ms[m] += ms;
                        r.busy_ms[0] += ms;
                        m = 1 - m;
                    }
                    r
                })
            })
            .collect();
        barrier.wait();
        handles.into_iter().map(|h| h.join().expect("direct thread")).collect()
    });
    let mut total = Round {
        secs,
        ..Round::default()
    };
    for r in per_thread {
        for m in 0..2 {
            total.count[m] += r.count[m];
            total.service_ms[m] += r.service_ms[m];
        }
        total.busy_ms.extend(r.busy_ms);
    }
    total
}

/// Closed loop of 4 submitter threads, each alternating the two models, for `secs`.
fn executor_round(exec: &Executor, ids: &[cosched::ModelId; 2], inputs: &[Inputs; 2], secs: f64) -> Round {
    let n_proc = exec.processor_status().len();
    let barrier = Barrier::new(5);
    let per_thread: Vec<Round> = std::thread::scope(|scope| {
        let handles: Vec<_> = (0..4)
            .map(|k| {
                let barrier = &barrier;
                scope.spawn(move || {
                    let mut r = Round {
                        busy_ms: vec![0.0; n_proc],
                        ..Round::default()
                    };
                    barrier.wait();
                    let t0_ms = exec.now_ms();
                    let end_ms = t0_ms + secs * 1000.0;
                    let mut m = k % 2;
                    loop {
                        let c = exec.submit(ids[m], inputs[m].clone()).expect("submit").wait();
                        assert!(c.result.is_ok(), "inference failed: {:?}", c.result.err());
                        let (start, p) = (c.start_ms.expect("started"), c.processor.expect("ran"));
                        if c.end_ms > end_ms {
                            r.busy_ms[p.index()] += (end_ms - start.max(t0_ms)).max(0.0);
                            break;
                        }
                        r.count[m] += 1;
                        r.service_ms[m] += c.end_ms - start;
                        r.busy_ms[p.index()] += c.end_ms - start.max(t0_ms);
                        m = 1 - m;
                    }
                    r
                })
            })
            .collect();
        barrier.wait();
        handles.into_iter().map(|h| h.join().expect("submitter")).collect()
    });
    let mut total = Round {
        secs,
        busy_ms: vec![0.0; n_proc],
        ..Round::default()
    };
    for r in per_thread {
        for m in 0..2 {
            total.count[m] += r.count[m];
            total.service_ms[m] += r.service_ms[m];
        }
        for (b, x) in total.busy_ms.iter_mut().zip(&r.busy_ms) {
            *b += x;
        }
    }
    total
}

fn load_avg() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .unwrap_or_default()
        .trim()
        .to_string()
}

fn main() {
    let policies: Vec<String> = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "least-loaded".into())
        .split(',')
        .map(str::to_string)
        .collect();
    let rounds: usize = env_or("ROUNDS", 3);
    let secs: f64 = env_or("ROUND_SECS", 8.0);
    let models_dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("models");
    let device = DeviceProfile::load(
        PathBuf::from(env!("CARGO_MANIFEST_DIR"))
            .join("devices/host-cpu.toml")
            .to_str()
            .expect("utf-8 path"),
    )
    .expect("host-cpu profile");
    let ids = MODELS.map(|m| device.model_id(m).expect("model in profile"));
    println!("load average at start: {}", load_avg());

    let execs: Vec<(String, Executor)> = policies
        .iter()
        .map(|name| {
            let policy = baseline(name, &device, Default::default()).unwrap_or_else(|| panic!("no baseline {name}"));
            let mut config = ExecutorConfig::new(policy);
            config.models = Some(MODELS.iter().map(|m| m.to_string()).collect());
            let exec = Executor::new(&device, &models_dir, config).expect("executor");
            (name.clone(), exec)
        })
        .collect();
    let infos = ids.map(|id| execs[0].1.model(id).expect("loaded").clone());
    let mut rng = rand::rng();
    let inputs = [infos[0].random_inputs(&mut rng), infos[1].random_inputs(&mut rng)];

    let env = cosched_ort::runtime::environment(None).expect("ort");
    let mut sessions: Vec<[ort::session::Session; 2]> = (0..device.processors.len())
        .map(|_| [build_session(&env, &infos[0].path), build_session(&env, &infos[1].path)])
        .collect();

    // Warm up both paths (first runs allocate arenas and page in weights).
    direct_round(&mut sessions, &inputs, 1.0);
    for (_, exec) in &execs {
        executor_round(exec, &ids, &inputs, 1.0);
    }

    println!(
        "{} rounds of {secs} s, interleaved; direct: {} threads x (resnet50, shufflenet) alternating; \
         executor: 4 outstanding (closed loop), 1:1 mix",
        rounds,
        sessions.len()
    );
    let mut ratios: Vec<Vec<f64>> = vec![Vec::new(); execs.len()];
    for round in 0..rounds {
        let d = direct_round(&mut sessions, &inputs, secs);
        println!("round {} direct              {}", round + 1, d.describe());
        for (i, (name, exec)) in execs.iter().enumerate() {
            let e = executor_round(exec, &ids, &inputs, secs);
            let ratio = e.rate() / d.rate();
            ratios[i].push(ratio);
            println!(
                "round {} executor {:<11}{}  ratio {:.3}",
                round + 1,
                name,
                e.describe(),
                ratio
            );
        }
    }
    for (i, (name, exec)) in execs.iter().enumerate() {
        let mean = ratios[i].iter().sum::<f64>() / ratios[i].len().max(1) as f64;
        println!(
            "mean ratio executor({name})/direct: {mean:.3} (bar >= 0.95: {}); executor stats: {:?}",
            if mean >= 0.95 { "met" } else { "MISSED" },
            exec.stats()
        );
    }
    println!("load average at end: {}", load_avg());
}
