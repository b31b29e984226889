//! Sustained overload: the `tiny` model submitted at 10x the two workers' saturation throughput
//! for a few seconds (`COSCHED_OVERLOAD_SECS`, default 3; 10 for the full check). Every accepted
//! request must get exactly one completion (a result or an error), refused ones none, and the
//! resident memory must stay bounded (the queues are bounded, so nothing may accumulate).
//!
//! Its own test binary, so that no other test's allocations show up in the process's RSS. Run
//! with `--nocapture` to see the figures.

mod common;

use common::{models_dir, two_cpus};
use cosched_core::{baseline, StreamId};
use cosched_ort::{Executor, ExecutorConfig, Reply, ShutdownMode, SubmitError};
use std::sync::atomic::{AtomicU32, AtomicU8, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// `VmRSS` and `VmHWM` of this process, MB (Linux; `None` elsewhere).
fn rss_hwm_mb() -> Option<(f64, f64)> {
    let s = std::fs::read_to_string("/proc/self/status").ok()?;
    let field = |name: &str| -> Option<f64> {
        let line = s.lines().find(|l| l.starts_with(name))?;
        let kb: f64 = line.split_whitespace().nth(1)?.parse().ok()?;
        Some(kb / 1024.0)
    };
    Some((field("VmRSS:")?, field("VmHWM:")?))
}

/// Upper bound on submissions (request ids are dense from 0, refused ones included), so the
/// per-id completion counters can be allocated before the baseline is taken.
const MAX_SUBMITS: usize = 8_000_000;

/// Resident-set growth allowed over the run, MB.
const RSS_GROWTH_BOUND_MB: f64 = 32.0;

#[test]
fn ten_x_overload_answers_every_request_once_and_memory_stays_bounded() {
    let secs: f64 = std::env::var("COSCHED_OVERLOAD_SECS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(3.0);
    let dir = models_dir();
    let dev = two_cpus(&[("tiny", 0.05)]);
    let cap = 16;
    let exec = Executor::new(
        &dev,
        &dir,
        ExecutorConfig {
            queue_capacity: cap,
            ..ExecutorConfig::new(baseline("least-loaded", &dev, Default::default()).expect("baseline"))
        },
    )
    .expect("executor");
    let m = dev.model_id("tiny").unwrap();
    let input = exec.model(m).unwrap().random_inputs(&mut rand::rng());
    // Service time (median of a few), warming both workers up.
    let mut svc: Vec<f64> = (0..50)
        .map(|_| {
            let c = exec.submit(m, input.clone()).unwrap().wait();
            c.end_ms - c.start_ms.unwrap()
        })
        .collect();
    svc.sort_by(f64::total_cmp);
    let service_ms = svc[svc.len() / 2].max(0.001);
    let saturation_rps = 2.0 / (service_ms / 1000.0);
    let offered_rps = 10.0 * saturation_rps;

    // Completions per request id, and totals of results and errors.
    let counts: Arc<Vec<AtomicU8>> = Arc::new((0..MAX_SUBMITS).map(|_| AtomicU8::new(0)).collect());
    let oks = Arc::new(AtomicU32::new(0));
    let errs = Arc::new(AtomicU32::new(0));
    let reply = || {
        let (counts, oks, errs) = (counts.clone(), oks.clone(), errs.clone());
        Reply::Callback(Box::new(move |c: cosched_ort::Completion| {
            counts[c.request.0 as usize].fetch_add(1, Ordering::Relaxed);
            if c.result.is_ok() {
                oks.fetch_add(1, Ordering::Relaxed);
            } else {
                errs.fetch_add(1, Ordering::Relaxed);
            }
        }))
    };
    let before = rss_hwm_mb();

    let mut accepted: Vec<u64> = Vec::new();
    let mut rejected = 0u64;
    let mut submitted = 0usize;
    let start = Instant::now();
    loop {
        let elapsed = start.elapsed().as_secs_f64();
        if elapsed >= secs {
            break;
        }
        let target = ((elapsed * offered_rps) as usize).min(MAX_SUBMITS - 1000);
        if submitted >= target {
            std::thread::sleep(Duration::from_micros(200));
            continue;
        }
        while submitted < target {
            submitted += 1;
            match exec.submit_with_reply(m, StreamId(0), 50.0, input.clone(), reply()) {
                Ok(id) => accepted.push(id.0),
                Err(SubmitError::Overloaded { capacity, .. }) => {
                    assert_eq!(capacity, cap);
                    rejected += 1;
                }
                Err(e) => panic!("unexpected {e}"),
            }
        }
    }
    let wall = start.elapsed().as_secs_f64();
    let during = rss_hwm_mb();
    let mut exec = exec;
    exec.shutdown(ShutdownMode::Drain);
    let after = rss_hwm_mb();

    let stats = exec.stats();
    println!(
        "overload: tiny service {service_ms:.3} ms, saturation {saturation_rps:.0} rps, target {offered_rps:.0} rps, \
         achieved {:.0} rps offered ({:.1}x saturation) for {wall:.1} s: {submitted} submitted, {} accepted, \
         {rejected} refused, {} ok, {} errors",
        submitted as f64 / wall,
        submitted as f64 / wall / saturation_rps,
        accepted.len(),
        oks.load(Ordering::Relaxed),
        errs.load(Ordering::Relaxed)
    );
    if let (Some(b), Some(d), Some(a)) = (before, during, after) {
        println!(
            "overload: VmRSS before {:.1} MB, at the end of submission {:.1} MB, after shutdown {:.1} MB; \
             VmHWM before {:.1} MB, after {:.1} MB",
            b.0, d.0, a.0, b.1, a.1
        );
        assert!(
            a.1 - b.0 < RSS_GROWTH_BOUND_MB,
            "peak resident memory grew by {:.1} MB under overload (bound {RSS_GROWTH_BOUND_MB} MB)",
            a.1 - b.0
        );
    }

    assert!(rejected > 0, "10x overload must hit the queue bound");
    // Every accepted request answered exactly once; refused ones never.
    for &id in &accepted {
        let n = counts[id as usize].load(Ordering::Relaxed);
        assert_eq!(n, 1, "request {id} answered {n} times");
    }
    let answered: u64 = counts.iter().map(|c| u64::from(c.load(Ordering::Relaxed))).sum();
    assert_eq!(answered, accepted.len() as u64, "a refused request got a completion");
    assert_eq!(
        u64::from(oks.load(Ordering::Relaxed) + errs.load(Ordering::Relaxed)),
        accepted.len() as u64
    );
    assert_eq!(stats.accepted, accepted.len() as u64 + 50);
    assert_eq!(stats.rejected, rejected);
    assert_eq!(stats.outstanding, 0);
}
