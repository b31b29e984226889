//! The simulator against queueing theory and against its own latency, energy, batching,
//! contention and DVFS models, each checked with numbers computed independently in the test.
//!
//! Every run uses a fixed seed, a deadline far above any latency (so nothing is unfinished and
//! means are not biased by the end of the run) and a policy that sends every request to one
//! fixed processor, so that the simulated system is exactly the textbook queue.

use cosched_core::{Action, DeviceProfile, Observation, Policy, ProcessorId, ResolvedWorkload, RunReport, Workload};
use cosched_sim::{simulate, SimConfig};

/// Sends every request to the first valid processor (a single queue in a one-processor profile).
struct FirstValid;

impl Policy for FirstValid {
    fn name(&self) -> &str {
        "first-valid"
    }
    fn decide(&mut self, obs: &Observation) -> Action {
        Action::to(obs.valid().next().unwrap_or(ProcessorId(0)))
    }
}

fn device(text: &str) -> DeviceProfile {
    DeviceProfile::from_toml_str(text, "test-device.toml").unwrap()
}

fn workload(device: &DeviceProfile, text: &str) -> ResolvedWorkload {
    Workload::from_toml_str(text, "test-workload.toml", None)
        .unwrap()
        .resolve(device, None, "test-workload.toml")
        .unwrap()
}

fn run(device: &DeviceProfile, workload: &ResolvedWorkload, config: &SimConfig) -> RunReport {
    simulate(device, workload, &mut FirstValid, config)
}

/// One processor `p` with `slots` slots running model `m` with mean latency `mean_ms` and
/// coefficient of variation `cv`.
fn single_server(slots: u32, mean_ms: f64, cv: f64) -> DeviceProfile {
    device(&format!(
        r#"
name = "single-server"
source = "tests"
[[processor]]
id = "p"
kind = "cpu"
ep = "cpu"
slots = {slots}
idle_power_w = 0.0
busy_power_w = 1.0
[[model]]
name = "m"
memory_mb = 1.0
latency_ms = {{ p = {mean_ms} }}
latency_cv = {{ p = {cv} }}
"#
    ))
}

/// Poisson arrivals of model `m` at `rate_hz` for `duration_s`, with a deadline no request meets late.
fn poisson(device: &DeviceProfile, rate_hz: f64, duration_s: f64) -> ResolvedWorkload {
    workload(
        device,
        &format!(
            r#"
name = "poisson"
duration_s = {duration_s}
[[stream]]
model = "m"
arrival = "poisson"
rate_hz = {rate_hz}
slo_ms = 100000.0
"#
        ),
    )
}

/// Mean sojourn time (ms) over several seeds of a single-queue run; checks nothing was left over.
fn mean_sojourn(device: &DeviceProfile, workload: &ResolvedWorkload, seeds: &[u64]) -> (f64, u64) {
    let mut sum = 0.0;
    let mut n = 0;
    for &seed in seeds {
        let r = run(device, workload, &SimConfig::with_seed(seed));
        assert_eq!(r.unfinished, 0, "seed {seed}: the drain window must empty the queue");
        assert_eq!(r.late, 0, "seed {seed}: the deadline is meant to be out of reach");
        assert_eq!(r.completed, r.arrived);
        sum += r.latency_ms.mean * r.arrived as f64;
        n += r.arrived;
    }
    (sum / n as f64, n)
}

/// Pollaczek-Khinchine mean sojourn time of an M/G/1 queue: `E[S] + λ E[S²] / (2 (1 - ρ))`.
fn pollaczek_khinchine(lambda_per_ms: f64, mean_ms: f64, cv: f64) -> f64 {
    let rho = lambda_per_ms * mean_ms;
    let second_moment = mean_ms * mean_ms * (1.0 + cv * cv);
    mean_ms + lambda_per_ms * second_moment / (2.0 * (1.0 - rho))
}

/// Exact mean sojourn time of an M/D/c queue (FCFS), from the embedded chain at multiples of D.
///
/// Everyone in service at time t leaves by t + D and nobody who arrives after t does, so the
/// number in system at times kD evolves as `N_{k+1} = max(N_k - c, 0) + A_k`, with
/// `A_k ~ Poisson(λD)`. The chain samples the stationary process at fixed times, so its stationary
/// law is the time-stationary law of the number in system, and Little's law gives
/// `W = E[N] / λ`.
fn mdc_mean_sojourn(c: usize, lambda_per_ms: f64, d_ms: f64) -> f64 {
    let a = lambda_per_ms * d_ms;
    assert!(a < c as f64, "unstable queue");
    // Poisson(a) probabilities up to far in the tail.
    let kmax = (a + 20.0 * a.sqrt() + 40.0) as usize;
    let mut pois = vec![(-a).exp()];
    for k in 1..=kmax {
        let prev = pois[k - 1];
        pois.push(prev * a / k as f64);
    }
    // Truncated state space; the tail of N decays geometrically, so this loses nothing visible.
    let size = 600;
    let mut pi = vec![0.0; size];
    pi[0] = 1.0;
    let mut next = vec![0.0; size];
    let mut converged = false;
    for _ in 0..200_000 {
        next.iter_mut().for_each(|x| *x = 0.0);
        for (i, &p_i) in pi.iter().enumerate() {
            if p_i < 1e-300 {
                continue;
            }
            let base = i.saturating_sub(c);
            for (k, &p_k) in pois.iter().enumerate() {
                next[(base + k).min(size - 1)] += p_i * p_k;
            }
        }
        let total: f64 = next.iter().sum();
        next.iter_mut().for_each(|x| *x /= total);
        let delta: f64 = pi.iter().zip(&next).map(|(x, y)| (x - y).abs()).sum();
        std::mem::swap(&mut pi, &mut next);
        if delta < 1e-15 {
            converged = true;
            break;
        }
    }
    assert!(converged, "the M/D/{c} chain did not converge");
    assert!(pi[size - 1] < 1e-30, "truncation too small");
    // Departures per step must balance arrivals per step: E[min(N, c)] = λD.
    let departures: f64 = pi.iter().enumerate().map(|(j, p)| p * j.min(c) as f64).sum();
    assert!((departures - a).abs() < 1e-9 * a, "flow balance {departures} vs {a}");
    let mean_n: f64 = pi.iter().enumerate().map(|(j, p)| p * j as f64).sum();
    mean_n / lambda_per_ms
}

fn rel_err(sim: f64, theory: f64) -> f64 {
    (sim - theory) / theory
}

fn check_md1(rho: f64, duration_s: f64, seeds: &[u64]) {
    let d = 1.0;
    let dev = single_server(1, d, 0.0);
    let lambda = rho / d; // per ms
    let w = poisson(&dev, lambda * 1000.0, duration_s);
    let (sim, n) = mean_sojourn(&dev, &w, seeds);
    let theory = pollaczek_khinchine(lambda, d, 0.0);
    let err = rel_err(sim, theory);
    eprintln!(
        "M/D/1 rho={rho}: sim {sim:.4} ms vs P-K {theory:.4} ms, {:+.2}% ({n} requests)",
        100.0 * err
    );
    assert!(err.abs() < 0.03, "M/D/1 at rho={rho}: {sim} vs {theory}");
}

#[test]
fn md1_matches_pollaczek_khinchine_at_half_load() {
    check_md1(0.5, 1000.0, &[1, 2]);
}

#[test]
fn md1_matches_pollaczek_khinchine_at_080_load() {
    check_md1(0.8, 1250.0, &[1, 2, 3]);
}

#[test]
fn mg1_lognormal_cv1_matches_pollaczek_khinchine() {
    let (d, cv, rho) = (1.0, 1.0, 0.7);
    let dev = single_server(1, d, cv);
    let lambda = rho / d;
    let w = poisson(&dev, lambda * 1000.0, 1000.0);
    let (sim, n) = mean_sojourn(&dev, &w, &[1, 2, 3, 4]);
    let theory = pollaczek_khinchine(lambda, d, cv);
    let err = rel_err(sim, theory);
    eprintln!(
        "M/G/1 lognormal cv=1 rho=0.7: sim {sim:.4} ms vs P-K {theory:.4} ms, {:+.2}% ({n} requests)",
        100.0 * err
    );
    assert!(err.abs() < 0.03, "M/G/1: {sim} vs {theory}");
}

#[test]
fn lognormal_service_has_the_profile_mean_and_cv() {
    // Light load, so sojourn = service almost always: the mean of the samples is the profile's.
    let dev = single_server(4, 2.0, 1.0);
    let w = poisson(&dev, 20.0, 10000.0);
    let r = run(&dev, &w, &SimConfig::with_seed(5));
    assert_eq!((r.completed, r.unfinished), (r.arrived, 0));
    let err = rel_err(r.latency_ms.mean, 2.0);
    eprintln!(
        "lognormal service mean: {:.4} ms vs 2.0 ms, {:+.2}% ({} requests)",
        r.latency_ms.mean,
        100.0 * err,
        r.arrived
    );
    assert!(err.abs() < 0.03);
    // Lognormal with mean 2 and cv 1: sigma^2 = ln 2, median = 2 exp(-sigma^2 / 2), p95 = median exp(1.645 sigma).
    let sigma = std::f64::consts::LN_2.sqrt();
    let median = 2.0 * (-sigma * sigma / 2.0).exp();
    let p95 = median * (1.644_853_6 * sigma).exp();
    eprintln!(
        "lognormal service p50 {:.4} ms (model {median:.4}), p95 {:.4} ms (model {p95:.4})",
        r.latency_ms.p50, r.latency_ms.p95
    );
    assert!(rel_err(r.latency_ms.p50, median).abs() < 0.02);
    assert!(rel_err(r.latency_ms.p95, p95).abs() < 0.03);
}

#[test]
fn mdc_formula_reduces_to_pollaczek_khinchine_for_one_server() {
    for rho in [0.3, 0.5, 0.8, 0.9] {
        let exact = mdc_mean_sojourn(1, rho, 1.0);
        let pk = pollaczek_khinchine(rho, 1.0, 0.0);
        assert!(rel_err(exact, pk).abs() < 1e-9, "rho={rho}: chain {exact} vs P-K {pk}");
    }
    // More servers at the same per-server load wait less; at light load W -> D.
    assert!(mdc_mean_sojourn(2, 1.4, 1.0) < mdc_mean_sojourn(1, 0.7, 1.0));
    assert!((mdc_mean_sojourn(3, 0.03, 1.0) - 1.0).abs() < 1e-4);
}

fn check_mdc(c: u32, rho: f64, duration_s: f64, seeds: &[u64]) {
    let d = 1.0;
    let dev = single_server(c, d, 0.0);
    let lambda = rho * f64::from(c) / d;
    let w = poisson(&dev, lambda * 1000.0, duration_s);
    let (sim, n) = mean_sojourn(&dev, &w, seeds);
    let exact = mdc_mean_sojourn(c as usize, lambda, d);
    let err = rel_err(sim, exact);
    eprintln!(
        "M/D/{c} rho={rho}: sim {sim:.4} ms vs exact {exact:.4} ms (wait {:.4} vs {:.4}), {:+.2}% ({n} requests)",
        sim - d,
        exact - d,
        100.0 * err
    );
    assert!(err.abs() < 0.05, "M/D/{c} at rho={rho}: {sim} vs {exact}");
}

#[test]
fn md2_matches_the_exact_embedded_chain() {
    check_mdc(2, 0.7, 700.0, &[1, 2, 3]);
}

#[test]
fn md3_matches_the_exact_embedded_chain() {
    check_mdc(3, 0.7, 500.0, &[1, 2, 3]);
}

// ---------------------------------------------------------------------------------------------
// Energy

/// Processor `p` (the one used) and `spare` (never used: runs only model `other`, which has no stream).
fn energy_device(idle_w: f64, busy_w: f64, slots: u32, latency_ms: f64) -> DeviceProfile {
    device(&format!(
        r#"
name = "energy"
source = "tests"
[[processor]]
id = "p"
kind = "gpu"
ep = "cuda"
slots = {slots}
idle_power_w = {idle_w}
busy_power_w = {busy_w}
[[processor]]
id = "spare"
kind = "dla"
ep = "tensorrt-dla"
slots = 1
idle_power_w = 0.3
busy_power_w = 2.0
[[model]]
name = "m"
memory_mb = 1.0
latency_ms = {{ p = {latency_ms} }}
[[model]]
name = "other"
memory_mb = 1.0
latency_ms = {{ spare = 1.0 }}
"#
    ))
}

fn periodic(device: &DeviceProfile, rate_hz: f64, duration_s: f64) -> ResolvedWorkload {
    workload(
        device,
        &format!(
            r#"
name = "periodic"
duration_s = {duration_s}
[[stream]]
model = "m"
arrival = "periodic"
rate_hz = {rate_hz}
slo_ms = 100000.0
"#
        ),
    )
}

fn closed(device: &DeviceProfile, concurrency: u32, duration_s: f64) -> ResolvedWorkload {
    workload(
        device,
        &format!(
            r#"
name = "closed"
duration_s = {duration_s}
[[stream]]
model = "m"
arrival = "closed"
concurrency = {concurrency}
slo_ms = 100000.0
"#
        ),
    )
}

fn assert_close(what: &str, got: f64, want: f64, tol: f64) {
    let err = rel_err(got, want);
    eprintln!("{what}: {got:.6} vs {want:.6} ({:+.4}%)", 100.0 * err);
    assert!(err.abs() < tol, "{what}: got {got}, want {want}");
}

#[test]
fn busy_energy_is_power_times_busy_time() {
    // Idle 0 W, busy 6 W, deterministic 2 ms every 10 ms: busy for exactly n x 2 ms.
    let (busy_w, d) = (6.0, 2.0);
    let dev = energy_device(0.0, busy_w, 1, d);
    let w = periodic(&dev, 100.0, 10.0);
    let r = run(&dev, &w, &SimConfig::with_seed(3));
    assert_eq!(r.completed, r.arrived);
    assert!((999..=1000).contains(&r.completed), "{} completions", r.completed);
    let busy_s = r.completed as f64 * d / 1000.0;
    assert_close(
        "busy energy, periodic",
        r.per_processor[0].energy_j,
        busy_w * busy_s,
        1e-3,
    );
    assert_close(
        "energy per inference",
        r.energy_per_inference_mj,
        (busy_w * busy_s + 0.3 * r.duration_s) / r.completed as f64 * 1000.0,
        1e-3,
    );
    assert_close(
        "utilization",
        r.per_processor[0].utilization,
        busy_s / r.duration_s,
        1e-3,
    );
    // Latency is the service time: no request waits with 2 ms of work every 10 ms.
    assert_close("latency", r.latency_ms.mean, d, 1e-9);

    // A closed loop of one keeps the processor busy from 0 until the window ends.
    let w = closed(&dev, 1, 1.0);
    let r = run(&dev, &w, &SimConfig::with_seed(3));
    assert_eq!(r.completed, 500, "1 s of 2 ms inferences back to back");
    let busy_s = r.completed as f64 * d / 1000.0;
    assert_close(
        "busy energy, closed loop",
        r.per_processor[0].energy_j,
        busy_w * busy_s,
        1e-3,
    );
    assert_close("run length of a closed loop", r.duration_s, 1.0, 1e-9);
}

#[test]
fn idle_power_is_charged_for_the_whole_run() {
    // Idle 1 W, busy 5 W on two slots: each busy slot adds (5 - 1) / 2 W.
    let (idle_w, busy_w, d) = (1.0, 5.0, 3.0);
    let dev = energy_device(idle_w, busy_w, 2, d);
    // Sparse arrivals: the run is almost all idle.
    let w = periodic(&dev, 2.0, 20.0);
    let r = run(&dev, &w, &SimConfig::with_seed(4));
    assert_eq!(r.completed, 40);
    assert!(
        r.duration_s >= 20.0 && r.duration_s <= 20.0 + d / 1000.0,
        "run {} s",
        r.duration_s
    );
    let busy_s = r.completed as f64 * d / 1000.0;
    let want = idle_w * r.duration_s + (busy_w - idle_w) / 2.0 * busy_s;
    assert_close(
        "energy of a mostly idle processor",
        r.per_processor[0].energy_j,
        want,
        1e-3,
    );
    assert_close(
        "never-used processor",
        r.per_processor[1].energy_j,
        0.3 * r.duration_s,
        1e-3,
    );
    assert_close("board energy", r.energy_j, want + 0.3 * r.duration_s, 1e-3);
    assert_close("average power", r.avg_power_w, r.energy_j / r.duration_s, 1e-9);

    // Both slots busy at once: a closed loop of two.
    let w = closed(&dev, 2, 0.999);
    let r = run(&dev, &w, &SimConfig::with_seed(4));
    assert_eq!(r.completed, 2 * 333);
    let busy_s = r.completed as f64 * d / 1000.0;
    let want = idle_w * r.duration_s + (busy_w - idle_w) / 2.0 * busy_s;
    assert_close("energy with both slots busy", r.per_processor[0].energy_j, want, 1e-3);
    assert_close(
        "... which is busy power",
        r.per_processor[0].energy_j,
        busy_w * r.duration_s,
        1e-3,
    );
}

// ---------------------------------------------------------------------------------------------
// Batching

fn batch_device(max_batch: u32, alpha: f64, l1: f64) -> DeviceProfile {
    device(&format!(
        r#"
name = "batching"
source = "tests"
[[processor]]
id = "p"
kind = "gpu"
ep = "cuda"
slots = 1
max_batch = {max_batch}
idle_power_w = 0.0
busy_power_w = 10.0
[[model]]
name = "m"
memory_mb = 1.0
latency_ms = {{ p = {l1} }}
batch_alpha = {{ p = {alpha} }}
"#
    ))
}

/// Completion times of a burst of `n` requests at t = 0 on one slot: the first starts alone, then
/// every completion takes up to `max_batch` queued requests, a batch of b taking `l1 (a + (1-a) b)`.
fn burst_completions(n: usize, max_batch: usize, alpha: f64, l1: f64) -> (Vec<f64>, f64) {
    let mut out = Vec::new();
    let mut t = 0.0;
    let mut busy = 0.0;
    let mut left = n;
    let mut first = true;
    while left > 0 {
        let b = if first { 1 } else { left.min(max_batch) };
        first = false;
        let dt = l1 * (alpha + (1.0 - alpha) * b as f64);
        t += dt;
        busy += dt;
        out.extend(std::iter::repeat_n(t, b));
        left -= b;
    }
    (out, busy)
}

#[test]
fn batches_follow_the_alpha_model_and_speed_up_a_burst() {
    let (n, l1) = (9, 2.0);
    let mut means = Vec::new();
    for (max_batch, alpha) in [(1, 0.5), (4, 0.5), (4, 0.0), (4, 1.0), (4, 0.8)] {
        let dev = batch_device(max_batch, alpha, l1);
        // A closed loop of 9 fires 9 requests at t = 0; the window closes before the first
        // completion, so nothing re-arrives.
        let w = closed(&dev, n as u32, 0.001);
        let r = run(&dev, &w, &SimConfig::with_seed(1));
        assert_eq!((r.arrived, r.completed), (n as u64, n as u64));
        let (done, busy_ms) = burst_completions(n, max_batch as usize, alpha, l1);
        let want_mean = done.iter().sum::<f64>() / n as f64;
        let want_max = done.last().copied().unwrap();
        eprintln!(
            "burst of {n}, max_batch {max_batch}, alpha {alpha}: mean {:.4} ms (model {want_mean:.4}), last {:.4} ms (model {want_max:.4})",
            r.latency_ms.mean, r.latency_ms.max
        );
        assert!(rel_err(r.latency_ms.mean, want_mean).abs() < 1e-9);
        // The histogram keeps 3 significant digits.
        assert!(rel_err(r.latency_ms.max, want_max).abs() < 1e-3);
        assert!(rel_err(r.duration_s, want_max / 1000.0).abs() < 1e-9);
        assert!(rel_err(r.energy_j, 10.0 * busy_ms / 1000.0).abs() < 1e-9);
        means.push((max_batch, alpha, r.latency_ms.mean, r.latency_ms.max));
    }
    let (unbatched, batched) = (means[0], means[1]);
    assert!(
        batched.2 < unbatched.2 && batched.3 < unbatched.3,
        "batching at alpha 0.5 must finish the burst sooner: {batched:?} vs {unbatched:?}"
    );
}

// ---------------------------------------------------------------------------------------------
// Interference

fn interference_device(slowdown: f64, max_slowdown: Option<f64>) -> DeviceProfile {
    let cap = max_slowdown.map_or(String::new(), |m| format!("max_slowdown = {m}"));
    device(&format!(
        r#"
name = "contention"
source = "tests"
[[processor]]
id = "a"
kind = "gpu"
ep = "cuda"
slots = 1
idle_power_w = 0.0
busy_power_w = 1.0
[[processor]]
id = "b"
kind = "cpu"
ep = "cpu"
slots = 1
idle_power_w = 0.0
busy_power_w = 1.0
[[processor]]
id = "c"
kind = "dla"
ep = "tensorrt-dla"
slots = 1
idle_power_w = 0.0
busy_power_w = 1.0
[[model]]
name = "long-b"
memory_mb = 1.0
latency_ms = {{ b = 10000.0 }}
[[model]]
name = "long-c"
memory_mb = 1.0
latency_ms = {{ c = 10000.0 }}
[[model]]
name = "short"
memory_mb = 1.0
latency_ms = {{ a = 1.0 }}
[interference]
slowdown_per_busy = {slowdown}
{cap}
"#
    ))
}

/// One long job on b (starts first, with nothing else busy), one on c (starts while b is busy),
/// then short requests on a every 100 ms while both are busy.
fn interference_run(slowdown: f64, max_slowdown: Option<f64>) -> RunReport {
    let dev = interference_device(slowdown, max_slowdown);
    let w = workload(
        &dev,
        r#"
name = "contention"
duration_s = 2.0
[[stream]]
name = "long-b"
model = "long-b"
arrival = "closed"
concurrency = 1
slo_ms = 100000.0
[[stream]]
name = "long-c"
model = "long-c"
arrival = "closed"
concurrency = 1
slo_ms = 100000.0
[[stream]]
name = "short"
model = "short"
arrival = "periodic"
rate_hz = 10.0
slo_ms = 100000.0
"#,
    );
    let mut config = SimConfig::with_seed(2);
    config.drain_ms = Some(20_000.0);
    let r = run(&dev, &w, &config);
    assert_eq!(r.unfinished, 0);
    assert_eq!(r.per_stream[2].arrived, 20);
    r
}

/// Contention is a rate: b and c run side by side from t = 0 at 1 / (1 + s) of their isolated
/// speed, and at 1 / slowdown(2) during each of the 20 short requests, which themselves run with
/// two others busy. So each long job finishes at `(1 + s) * (10 000 + 20 * d * (1 / (1 + s) -
/// 1 / slow2))` where `d = slow2` is a short request's duration.
#[test]
fn interference_slows_every_inference_while_others_are_busy() {
    let expect = |s: f64, cap: f64| {
        let slow1 = (1.0 + s).min(cap);
        let slow2 = (1.0 + 2.0 * s).min(cap);
        let long = slow1 * (10_000.0 + 20.0 * slow2 * (1.0 / slow1 - 1.0 / slow2));
        (long, slow2)
    };
    for (s, cap) in [(0.25, None), (0.25, Some(1.3)), (0.0, None)] {
        let r = interference_run(s, cap);
        let lat = |i: usize| r.per_stream[i].mean_latency_ms;
        let (long, short) = expect(s, cap.unwrap_or(f64::INFINITY));
        eprintln!(
            "interference s={s} cap={cap:?}: long-b {:.3} ms, long-c {:.3} ms (expected {long:.3}), short {:.6} ms (expected {short:.6})",
            lat(0),
            lat(1),
            lat(2)
        );
        assert!(rel_err(lat(0), long).abs() < 1e-9, "b shares memory with c all along");
        assert!(rel_err(lat(1), long).abs() < 1e-9, "c shares memory with b all along");
        assert!(rel_err(lat(2), short).abs() < 1e-9, "two others busy");
    }
}

/// A long job that runs alone, then side by side with another for part of its run, is slowed
/// only for the overlap: the partial overlap that a start-time-only model misses.
#[test]
fn interference_applies_to_partial_overlaps() {
    let s = 0.5;
    let dev = interference_device(s, None);
    // b arrives at 0 and c at 4000 ms exactly (periodic streams have a random phase).
    let dir = std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join("partial-overlap");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("trace.csv"), "timestamp_ms,model\n0.0,long-b\n4000.0,long-c\n").unwrap();
    let text = r#"
name = "overlap"
duration_s = 5.0
[[stream]]
name = "both"
arrival = "trace"
file = "trace.csv"
slo_ms = 100000.0
"#;
    let w = Workload::from_toml_str(text, "overlap.toml", Some(&dir))
        .unwrap()
        .resolve(&dev, None, "overlap.toml")
        .unwrap();
    let mut config = SimConfig::with_seed(2);
    config.drain_ms = Some(40_000.0);
    let r = run(&dev, &w, &config);
    // b: 4000 ms alone (4000 of work), then 6000 of work at 1/1.5: finishes at 13 000.
    // c: starts at 4000, 9000 ms side by side does 6000 of work, then 4000 alone: ends at 17 000.
    // Both requests take 13 000 ms: the mean is that, and so is the maximum. (Applied at start
    // only, b would take 10 000 ms and c 15 000.)
    let (mean, max) = (r.per_stream[0].mean_latency_ms, r.latency_ms.max);
    eprintln!("partial overlap: mean {mean:.3} ms, max {max:.3} ms");
    assert_eq!(r.per_stream[0].completed, 2);
    assert!(rel_err(mean, 13_000.0).abs() < 1e-9, "mean {mean}");
    // (The maximum comes from a histogram with 3 significant digits.)
    assert!(rel_err(max, 13_000.0).abs() < 1e-3, "max {max}");
}

// ---------------------------------------------------------------------------------------------
// DVFS

#[test]
fn dvfs_scales_latency_and_energy_per_inference() {
    let (idle_w, busy_w, l1) = (0.5, 4.5, 2.0);
    let dev = device(&format!(
        r#"
name = "dvfs"
source = "tests"
[[processor]]
id = "p"
kind = "gpu"
ep = "cuda"
slots = 1
idle_power_w = {idle_w}
busy_power_w = {busy_w}
dvfs_mhz = [400, 800, 1600]
[[model]]
name = "m"
memory_mb = 1.0
latency_ms = {{ p = {l1} }}
"#
    ));
    let proc_ = &dev.processors[0];
    let w = periodic(&dev, 50.0, 4.0);
    let mut dynamic_per_inference = Vec::new();
    for (level, f) in [(2, 1.0), (1, 0.5), (0, 0.25), (99, 1.0)] {
        let mut config = SimConfig::with_seed(6);
        config.dvfs_levels = vec![level];
        let r = run(&dev, &w, &config);
        assert_eq!(r.completed, 200);
        let service_ms = l1 / f;
        assert!(
            rel_err(r.latency_ms.mean, service_ms).abs() < 1e-9,
            "level {level}: latency {} vs {service_ms}",
            r.latency_ms.mean
        );
        // Idle power all along, plus the busy increment power_w(1, f) - idle while serving.
        let busy_s = r.completed as f64 * service_ms / 1000.0;
        let want = idle_w * r.duration_s + (proc_.power_w(1, f) - idle_w) * busy_s;
        assert!(
            rel_err(r.energy_j, want).abs() < 1e-3,
            "level {level}: {} vs {want}",
            r.energy_j
        );
        let dynamic = (r.energy_j - idle_w * r.duration_s) / r.completed as f64;
        // (busy - idle) f^2 for l1 / f: the dynamic energy of an inference goes as f.
        let model = (busy_w - idle_w) * f * l1 / 1000.0;
        eprintln!(
            "dvfs level {level} (f={f}): latency {:.4} ms, dynamic energy {:.6} mJ/inference (model {:.6})",
            r.latency_ms.mean,
            dynamic * 1000.0,
            model * 1000.0
        );
        assert!(rel_err(dynamic, model).abs() < 1e-3);
        assert!(
            rel_err(
                dynamic + idle_w * service_ms / 1000.0,
                proc_.energy_per_inference_j(service_ms, f)
            )
            .abs()
                < 1e-3
        );
        dynamic_per_inference.push(dynamic);
    }
    assert!(rel_err(dynamic_per_inference[1] / dynamic_per_inference[0], 0.5).abs() < 1e-3);
    assert!(rel_err(dynamic_per_inference[2] / dynamic_per_inference[0], 0.25).abs() < 1e-3);
}
