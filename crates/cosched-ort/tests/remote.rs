//! Remote processors against real KServe v2 servers started on loopback by the tests: MLServer
//! (JSON tensors only) and Triton (nvidia-pytriton's tritonserver; binary tensors, found through
//! its extensions). Outputs are checked against a local ONNX Runtime session on the same input;
//! a server killed mid-run loses no accepted request, and its processor comes back when the
//! server is restarted.
//!
//! The servers live in the virtual environment of scripts/setup-python-env.sh (part of the test
//! set-up of README.md).

mod common;

use common::models_dir;
use cosched_core::{baseline, DeviceProfile, ModelId, ProcessorId};
use cosched_ort::{Executor, ExecutorConfig, Inputs, ShutdownMode, SubmitError, Ticket};
use rand::SeedableRng;
use std::net::TcpListener;
use std::path::PathBuf;
use std::process::{Child, Command};
use std::time::{Duration, Instant};

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn venv_python() -> PathBuf {
    let p = repo().join("third_party/venv/bin/python");
    assert!(
        p.is_file(),
        "{} missing: run `bash scripts/setup-python-env.sh` (README's test set-up does)",
        p.display()
    );
    p
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

#[derive(Clone, Copy, PartialEq, Debug)]
enum Kind {
    MlServer,
    Triton,
}

/// A real server process (its own process group, killed whole on drop).
struct Server {
    kind: Kind,
    child: Option<Child>,
    port: u16,
    dir: PathBuf,
}

impl Server {
    fn start(kind: Kind, port: u16) -> Server {
        use std::os::unix::process::CommandExt;
        let scripts = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/servers");
        let model = format!("tiny={}", models_dir().join("tiny.onnx").display());
        let dir = std::env::temp_dir().join(format!("cosched-remote-{}-{port}", std::process::id()));
        let mut cmd = Command::new(venv_python());
        match kind {
            Kind::MlServer => cmd
                .arg(scripts.join("serve_mlserver.py"))
                .arg(&dir)
                .arg(port.to_string())
                .arg(free_port().to_string())
                .arg(free_port().to_string())
                .arg(&model),
            Kind::Triton => cmd
                .arg(scripts.join("serve_pytriton.py"))
                .arg(port.to_string())
                .arg(free_port().to_string())
                .arg(free_port().to_string())
                .arg(&model),
        };
        let log = std::fs::File::create(std::env::temp_dir().join(format!("cosched-remote-{port}.log"))).unwrap();
        let child = cmd
            .process_group(0)
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .spawn()
            .expect("start the server");
        let mut s = Server {
            kind,
            child: Some(child),
            port,
            dir,
        };
        s.wait_ready();
        s
    }

    fn endpoint(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    fn wait_ready(&mut self) {
        let agent: ureq::Agent = ureq::Agent::config_builder()
            .timeout_global(Some(Duration::from_secs(1)))
            .build()
            .into();
        let url = format!("{}/v2/models/tiny/ready", self.endpoint());
        let t0 = Instant::now();
        while t0.elapsed() < Duration::from_secs(90) {
            if let Ok(r) = agent.get(&url).call() {
                if r.status().is_success() {
                    return;
                }
            }
            if let Some(status) = self.child.as_mut().and_then(|c| c.try_wait().ok().flatten()) {
                panic!(
                    "{:?} exited before it was ready ({status}); see its log in the temp dir",
                    self.kind
                );
            }
            std::thread::sleep(Duration::from_millis(200));
        }
        panic!("{:?} on port {} not ready after 90 s", self.kind, self.port);
    }

    /// SIGKILL the whole process group (tritonserver is a child of the pytriton script).
    fn kill(&mut self) {
        if let Some(mut c) = self.child.take() {
            // `kill -s KILL -- -PGID`: procps 4.0.2 reads `kill -KILL -PGID` as a kill of
            // process group 9, whatever PGID is.
            let _ = Command::new("kill")
                .args(["-s", "KILL", "--", &format!("-{}", c.id())])
                .status();
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.kill();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

const LOCAL_CPU: &str = r#"[[processor]]
id = "cpu"
kind = "cpu"
ep = "cpu"
slots = 1
threads = 1
idle_power_w = 0.5
busy_power_w = 5.0
"#;

/// A local CPU and a remote processor, both running `tiny`.
fn device(endpoint: &str, remote_slots: u32, extra: &str) -> DeviceProfile {
    profile(endpoint, remote_slots, extra, true)
}

/// The remote processor, and a local CPU if `local`.
fn profile(endpoint: &str, remote_slots: u32, extra: &str, local: bool) -> DeviceProfile {
    let (cpu, cpu_latency) = if local { (LOCAL_CPU, "cpu = 0.1") } else { ("", "") };
    let text = format!(
        r#"name = "board-plus-server"
source = "test"
{cpu}
[[processor]]
id = "server"
kind = "remote"
ep = "remote"
slots = {remote_slots}
idle_power_w = 0.1
busy_power_w = 1.0
endpoint = "{endpoint}"
timeout_ms = 2000.0
connect_timeout_ms = 200.0
probe_interval_ms = 200.0
{extra}
[[model]]
name = "tiny"
memory_mb = 1.0
[model.latency_ms]
{cpu_latency}
server = 1.0
"#
    );
    DeviceProfile::from_toml_str(&text, "board-plus-server.toml").expect("valid profile")
}

fn executor(device: &DeviceProfile, policy: &str) -> Executor {
    let mut config = ExecutorConfig::new(baseline(policy, device, Default::default()).expect("baseline"));
    config.queue_capacity = 4096;
    Executor::new(device, &models_dir(), config).expect("executor starts")
}

fn inputs(exec: &Executor, n: usize) -> Vec<Inputs> {
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(7);
    let info = exec.model(ModelId(0)).expect("tiny is loaded").clone();
    (0..n).map(|_| info.random_inputs(&mut rng)).collect()
}

/// The outputs of a local ONNX Runtime session (batch 1, one thread) on each input.
fn reference(inputs: &[Inputs]) -> Vec<Vec<ndarray::ArrayD<f32>>> {
    let local = common::device(&[("cpu", "cpu", 1)], &[("tiny", 0.1)]);
    let mut exec = executor(&local, "fastest-only");
    let out = inputs
        .iter()
        .map(|i| {
            exec.submit(ModelId(0), i.clone())
                .expect("accepted")
                .wait()
                .result
                .expect("local run")
        })
        .collect();
    exec.shutdown(ShutdownMode::Drain);
    out
}

/// The remote processor of [`device`].
const SERVER: ProcessorId = ProcessorId(1);

/// Requests placed round-robin on the local CPU and the server all give the outputs of a local
/// session on the same input.
fn offload_matches_local(kind: Kind, extra: &str) {
    let server = Server::start(kind, free_port());
    let device = device(&server.endpoint(), 2, extra);
    // round-robin alternates, so half the requests run remotely and half locally.
    let mut exec = executor(&device, "round-robin");
    assert!(
        exec.processor_status()[1]
            .active_ep
            .as_deref()
            .is_some_and(|e| e.starts_with("KServe v2 at http://127.0.0.1")),
        "{:?}",
        exec.processor_status()
    );
    let xs = inputs(&exec, 24);
    let want = reference(&xs);
    let tickets: Vec<Ticket> = xs
        .iter()
        .map(|x| exec.submit(ModelId(0), x.clone()).expect("accepted"))
        .collect();
    let mut remote = 0;
    for (i, t) in tickets.into_iter().enumerate() {
        let c = t.wait();
        let out = c.result.unwrap_or_else(|e| panic!("request {i} failed: {e}"));
        if c.processor == Some(SERVER) {
            remote += 1;
            assert_eq!(c.attempts, 1);
        }
        assert_eq!(out.len(), want[i].len());
        for (got, exp) in out.iter().zip(&want[i]) {
            assert_eq!(got.shape(), exp.shape(), "request {i}");
            // The server runs the same ONNX Runtime release on one thread: identical floats,
            // through JSON (shortest round-trip decimal) as through binary tensors.
            assert_eq!(got, exp, "request {i} on {:?}", c.processor);
        }
    }
    assert!(remote >= 8, "only {remote} of 24 requests ran on the server");
    let stats = exec.stats();
    assert_eq!((stats.completed, stats.failed, stats.processor_downs), (24, 0, 0));
    exec.shutdown(ShutdownMode::Drain);
}

#[test]
fn offload_to_mlserver_over_json_matches_a_local_session() {
    offload_matches_local(Kind::MlServer, "");
}

#[test]
fn offload_to_triton_over_binary_tensors_matches_a_local_session() {
    offload_matches_local(Kind::Triton, "");
}

#[test]
fn triton_over_json_when_the_profile_says_so() {
    offload_matches_local(Kind::Triton, "protocol = \"json\"");
}

#[test]
fn a_server_killed_mid_run_loses_no_request_and_comes_back_after_a_restart() {
    let port = free_port();
    let mut server = Server::start(Kind::MlServer, port);
    let device = device(&server.endpoint(), 2, "");
    let mut exec = executor(&device, "round-robin");
    let xs = inputs(&exec, 8);
    let mut tickets = Vec::new();
    let submit_for = |exec: &Executor, d: Duration, tickets: &mut Vec<Ticket>| {
        let t0 = Instant::now();
        let mut k = 0;
        while t0.elapsed() < d {
            match exec.submit(ModelId(0), xs[k % xs.len()].clone()) {
                Ok(t) => tickets.push(t),
                Err(e) => panic!("refused while the cpu is up: {e}"),
            }
            k += 1;
            std::thread::sleep(Duration::from_millis(2));
        }
    };
    submit_for(&exec, Duration::from_millis(600), &mut tickets);
    server.kill();
    submit_for(&exec, Duration::from_millis(1200), &mut tickets);
    let usage = exec.usage();
    assert!(
        !usage.online[1],
        "the server's processor is still online after the kill"
    );
    assert!(usage.online[0]);
    let before_restart = usage.completed[1];
    assert!(before_restart > 0, "nothing ran on the server before the kill");
    let server = Server::start(Kind::MlServer, port);
    let t0 = Instant::now();
    while !exec.usage().online[1] {
        assert!(
            t0.elapsed() < Duration::from_secs(10),
            "the processor did not come back"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    submit_for(&exec, Duration::from_millis(600), &mut tickets);
    let accepted = tickets.len() as u64;
    let mut ok = 0;
    for t in tickets {
        let c = t.wait();
        assert!(
            c.result.is_ok(),
            "a request failed although the cpu was up: {:?}",
            c.result
        );
        ok += 1;
    }
    let stats = exec.stats();
    assert_eq!(ok, accepted);
    assert_eq!(stats.accepted, accepted);
    assert_eq!(stats.completed, accepted, "{stats:?}");
    assert_eq!(stats.failed, 0);
    assert!(
        stats.processor_downs >= 1 && stats.processor_recoveries >= 1,
        "{stats:?}"
    );
    assert!(
        exec.usage().completed[1] > before_restart,
        "nothing ran on the server after it came back"
    );
    exec.shutdown(ShutdownMode::Drain);
    drop(server);
}

#[test]
fn a_server_that_is_not_there_starts_down_and_requests_go_local_or_are_refused() {
    let port = free_port();
    let device = device(&format!("http://127.0.0.1:{port}"), 1, "");
    let mut exec = executor(&device, "round-robin");
    assert_eq!(exec.usage().online, vec![true, false]);
    let xs = inputs(&exec, 4);
    for x in &xs {
        let c = exec.submit(ModelId(0), x.clone()).expect("accepted").wait();
        assert_eq!(c.processor, Some(ProcessorId(0)));
        assert!(c.result.is_ok());
    }
    exec.shutdown(ShutdownMode::Drain);

    // With no local processor for the model, a request is refused with a reason, not queued.
    let remote_only = profile(&format!("http://127.0.0.1:{port}"), 1, "", false);
    let mut exec = executor(&remote_only, "round-robin");
    match exec.submit(ModelId(0), xs[0].clone()) {
        Err(e @ SubmitError::Unavailable(_)) => {
            let msg = e.to_string();
            assert!(msg.contains("tiny") && msg.contains("down"), "{msg}");
        }
        other => panic!("expected Unavailable, got {other:?}"),
    }
    exec.shutdown(ShutdownMode::Drain);
}

/// MLServer refuses Triton's binary tensors (HTTP 4xx): a profile that forces them gets every
/// remote attempt refused, each request fails over to the board, and the server is not taken
/// down (it answered; the request was what it refused).
#[test]
fn a_refused_request_fails_over_without_taking_the_server_down() {
    let server = Server::start(Kind::MlServer, free_port());
    let device = device(&server.endpoint(), 1, "protocol = \"binary\"");
    let mut exec = executor(&device, "round-robin");
    let xs = inputs(&exec, 10);
    for x in &xs {
        let c = exec.submit(ModelId(0), x.clone()).expect("accepted").wait();
        assert!(c.result.is_ok(), "{:?}", c.result);
        assert_eq!(c.processor, Some(ProcessorId(0)), "only the board can answer");
    }
    let stats = exec.stats();
    assert!(stats.failovers >= 4, "{stats:?}");
    assert_eq!((stats.failed, stats.processor_downs), (0, 0), "{stats:?}");
    assert_eq!(exec.usage().online, vec![true, true]);
    exec.shutdown(ShutdownMode::Drain);
}

/// Quick calibration (`cosched-bench profile --quick`) measures a remote processor like a local
/// one, round trip included, and leaves a down one as it was, saying why.
#[test]
fn calibration_measures_the_round_trip_to_a_server() {
    use cosched_ort::calibrate::{calibrate, CalibrateConfig};
    let server = Server::start(Kind::MlServer, free_port());
    let board = device(&server.endpoint(), 1, "");
    let config = CalibrateConfig {
        iters: 20,
        ..CalibrateConfig::default()
    };
    let cal = calibrate(&board, &models_dir(), &config, &mut |_| {}).expect("calibrates");
    let pair = cal
        .pairs
        .iter()
        .find(|p| p.processor == "server")
        .expect("the server was measured");
    assert!(pair.runs >= 3 && pair.measured_ms > 0.0, "{pair:?}");
    let local = cal.pairs.iter().find(|p| p.processor == "cpu").expect("cpu measured");
    // An HTTP round trip through a Python server costs more than a 64-wide matmul in process.
    assert!(pair.measured_ms > local.measured_ms, "{pair:?} vs {local:?}");
    drop(server);

    let gone = device(&format!("http://127.0.0.1:{}", free_port()), 1, "");
    let cal = calibrate(&gone, &models_dir(), &config, &mut |_| {}).expect("calibrates the rest");
    assert!(cal.pairs.iter().all(|p| p.processor != "server"));
    assert!(
        cal.skipped
            .iter()
            .any(|(id, why)| id == "server" && why.contains("down")),
        "{:?}",
        cal.skipped
    );
}
