//! `cosched-bench serve` as its clients see it: tritonclient (JSON and binary tensors) gets the
//! outputs of a direct ONNX Runtime session; bad requests get their status and a one-line
//! reason; overload answers 503 and every request gets exactly one answer; SIGTERM drains.

use cosched_core::{DeviceProfile, ModelId};
use cosched_ort::{Executor, ExecutorConfig, ShutdownMode};
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// A running `serve` on a free port.
struct Serve {
    child: Child,
    addr: SocketAddr,
}

impl Serve {
    fn start(extra: &[&str]) -> Serve {
        let mut child = Command::new(env!("CARGO_BIN_EXE_cosched-bench"))
            .current_dir(repo())
            .args([
                "serve",
                "--device",
                "host-cpu",
                "--models",
                "models",
                "--listen",
                "127.0.0.1:0",
            ])
            .args(extra)
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("start serve");
        let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
        let first = lines.next().expect("serve printed nothing").expect("stdout");
        let addr = first
            .split("http://")
            .nth(1)
            .and_then(|r| r.split_whitespace().next())
            .unwrap_or_else(|| panic!("no address in {first:?}"))
            .parse()
            .expect("an address");
        // Keep reading stdout so the summary line at exit cannot block on a full pipe.
        std::thread::spawn(move || for _ in lines {});
        Serve { child, addr }
    }

    /// SIGTERM and the exit status.
    fn terminate(mut self) -> std::process::ExitStatus {
        let pid = self.child.id().to_string();
        Command::new("kill").args(["-s", "TERM", &pid]).status().unwrap();
        let status = self.child.wait().unwrap();
        std::mem::forget(self);
        status
    }
}

impl Drop for Serve {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// One HTTP/1.1 request on a fresh connection: (status, body); status 0 when the connection
/// is refused (a server that stopped accepting).
fn http(addr: SocketAddr, method: &str, path: &str, headers: &[(&str, String)], body: &[u8]) -> (u16, Vec<u8>) {
    let Ok(mut s) = TcpStream::connect(addr) else {
        return (0, Vec::new());
    };
    s.set_read_timeout(Some(Duration::from_secs(60))).unwrap();
    let mut head = format!(
        "{method} {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\nContent-Length: {}\r\n",
        body.len()
    );
    for (k, v) in headers {
        head += &format!("{k}: {v}\r\n");
    }
    head += "\r\n";
    s.write_all(head.as_bytes()).unwrap();
    // The server may answer (413) before reading a large body: a failed write is fine then.
    let _ = s.write_all(body);
    let mut resp = Vec::new();
    let _ = s.read_to_end(&mut resp);
    let text = String::from_utf8_lossy(&resp);
    let status = text
        .split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or_else(|| panic!("no HTTP status in {:?}", &text[..text.len().min(200)]));
    let split = resp
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .map_or(resp.len(), |i| i + 4);
    (status, resp[split..].to_vec())
}

fn json_err(body: &[u8]) -> String {
    let v: serde_json::Value = serde_json::from_slice(body).unwrap_or_else(|_| panic!("not JSON: {body:?}"));
    let e = v["error"].as_str().expect("an error field").to_string();
    assert!(!e.contains('\n') && !e.is_empty(), "{e:?}");
    e
}

/// A flat JSON infer body for squeezenet's input with `n` values and the given shape.
fn squeezenet_json(shape: &str, n: usize, datatype: &str) -> Vec<u8> {
    let data = vec!["0.5"; n].join(",");
    format!(r#"{{"inputs":[{{"name":"data_0","shape":{shape},"datatype":"{datatype}","data":[{data}]}}]}}"#)
        .into_bytes()
}

const SQUEEZENET_LEN: usize = 3 * 224 * 224;

#[test]
fn tritonclient_json_and_binary_outputs_equal_a_direct_session() {
    let serve = Serve::start(&[]);
    let dir = std::env::temp_dir().join(format!("cosched-serve-tc-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let x: Vec<f32> = (0..SQUEEZENET_LEN)
        .map(|i| ((i * 7919) % 1000) as f32 / 1000.0)
        .collect();
    let bytes: Vec<u8> = x.iter().flat_map(|v| v.to_le_bytes()).collect();
    std::fs::write(dir.join("in.f32"), &bytes).unwrap();
    let out = Command::new(repo().join("third_party/venv/bin/python"))
        .arg(repo().join("crates/cosched-bench/tests/python/tritonclient_check.py"))
        .arg(serve.addr.to_string())
        .arg("squeezenet")
        .arg(dir.join("in.f32"))
        .arg(&dir)
        .output()
        .expect("run the venv's python (scripts/setup-python-env.sh)");
    assert!(
        out.status.success(),
        "tritonclient check failed: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    // The reference: the same model on one CPU thread, in process.
    let device = DeviceProfile::load("host-cpu").unwrap();
    let mut config = ExecutorConfig::new(cosched_core::baseline("fastest-only", &device, Default::default()).unwrap());
    config.models = Some(vec!["squeezenet".into()]);
    let mut exec = Executor::new(&device, &repo().join("models"), config).unwrap();
    let id = device.model_id("squeezenet").unwrap();
    let input = ndarray::ArrayD::from_shape_vec(vec![1, 3, 224, 224], x).unwrap();
    let want = exec.submit(id, vec![input]).unwrap().wait().result.unwrap();
    exec.shutdown(ShutdownMode::Drain);
    let name = &exec.model(ModelId(id.0)).unwrap().outputs[0];
    let want: Vec<f32> = want[0].iter().copied().collect();
    for mode in ["json", "binary"] {
        let raw = std::fs::read(dir.join(format!("{mode}-{name}.f32"))).unwrap();
        let got: Vec<f32> = raw
            .chunks_exact(4)
            .map(|c| f32::from_le_bytes(c.try_into().unwrap()))
            .collect();
        assert_eq!(got, want, "{mode} outputs differ from a direct session");
    }
    let _ = std::fs::remove_dir_all(&dir);
    assert!(serve.terminate().success());
}

/// method, path, headers, body, the status it must get, a word its reason must contain.
type BadCase<'a> = (&'a str, &'a str, Vec<(&'a str, String)>, Vec<u8>, u16, &'a str);

#[test]
fn bad_requests_get_their_status_and_a_reason() {
    let serve = Serve::start(&["--max-body-mib", "4"]);
    let a = serve.addr;
    let infer = "/v2/models/squeezenet/infer";
    let json = [("Content-Type", "application/json".to_string())];
    let cases: Vec<BadCase> = vec![
        ("GET", "/v2/models/nope", vec![], vec![], 404, "nope"),
        (
            "POST",
            "/v2/models/nope/infer",
            json.to_vec(),
            b"{}".to_vec(),
            404,
            "nope",
        ),
        ("GET", "/v2/nothing/here", vec![], vec![], 404, "no such endpoint"),
        ("POST", infer, json.to_vec(), b"{\"inputs\": [".to_vec(), 400, "JSON"),
        ("POST", infer, json.to_vec(), b"[1, 2]".to_vec(), 400, "JSON"),
        (
            "POST",
            infer,
            json.to_vec(),
            squeezenet_json("[1,3,224,224]", 10, "FP32"),
            400,
            "data_0",
        ),
        (
            "POST",
            infer,
            json.to_vec(),
            squeezenet_json("[1,3,224,224]", 1, "INT8"),
            400,
            "INT8",
        ),
        (
            "POST",
            infer,
            json.to_vec(),
            squeezenet_json("[1,2,2]", 4, "FP32"),
            400,
            "data_0",
        ),
        (
            "POST",
            infer,
            json.to_vec(),
            squeezenet_json("[4294967296,4294967296,4294967296]", 1, "FP32"),
            400,
            "data_0",
        ),
        ("POST", infer, json.to_vec(), vec![b' '; 5 << 20], 413, "limit"),
    ];
    for (method, path, headers, body, status, why) in cases {
        let (got, resp) = http(a, method, path, &headers, &body);
        let text = String::from_utf8_lossy(&body[..body.len().min(80)]).into_owned();
        assert_eq!(
            got,
            status,
            "{method} {path} {text}: {}",
            String::from_utf8_lossy(&resp)
        );
        let e = json_err(&resp);
        assert!(e.contains(why), "{method} {path} {text}: {e:?} should mention {why:?}");
    }
    // Binary tensors whose sizes lie.
    let head = br#"{"inputs":[{"name":"data_0","shape":[1,3,224,224],"datatype":"FP32","parameters":{"binary_data_size":602112}}]}"#;
    for (len, tail) in [
        (head.len(), 100usize),
        (head.len() + 5000, 602112),
        (head.len(), 602112 + 4),
    ] {
        let mut body = head.to_vec();
        body.resize(head.len() + tail, 0);
        let headers = vec![
            ("Content-Type", "application/octet-stream".to_string()),
            ("Inference-Header-Content-Length", len.to_string()),
        ];
        let (got, resp) = http(a, "POST", infer, &headers, &body);
        assert_eq!(
            got,
            400,
            "header {len}, {tail} bytes after: {}",
            String::from_utf8_lossy(&resp)
        );
        json_err(&resp);
    }
    // And the server still answers a good request.
    let (got, resp) = http(
        a,
        "POST",
        infer,
        &json,
        &squeezenet_json("[1,3,224,224]", SQUEEZENET_LEN, "FP32"),
    );
    assert_eq!(got, 200, "{}", String::from_utf8_lossy(&resp));
    assert!(serve.terminate().success());
}

/// Many more requests at once than the server holds: each gets one answer, 200 or 503, and a
/// SIGTERM in the middle still answers everything accepted and exits 0.
#[test]
fn overload_answers_503_and_sigterm_drains() {
    let serve = Serve::start(&["--max-in-flight", "4", "--queue-capacity", "2"]);
    let a = serve.addr;
    let body = squeezenet_json("[1,3,224,224]", SQUEEZENET_LEN, "FP32");
    let answers: Vec<u16> = std::thread::scope(|s| {
        let hs: Vec<_> = (0..24)
            .map(|_| s.spawn(|| http(a, "POST", "/v2/models/squeezenet/infer", &[], &body).0))
            .collect();
        hs.into_iter().map(|h| h.join().unwrap()).collect()
    });
    let ok = answers.iter().filter(|&&c| c == 200).count();
    let busy = answers.iter().filter(|&&c| c == 503).count();
    assert_eq!(ok + busy, answers.len(), "{answers:?}");
    assert!(ok >= 2 && busy >= 1, "{answers:?}");
    let (code, metrics) = http(a, "GET", "/metrics", &[], &[]);
    assert_eq!(code, 200);
    let metrics = String::from_utf8_lossy(&metrics).into_owned();
    assert!(metrics.contains("cosched_requests_rejected_total"), "{metrics}");

    // SIGTERM while requests are in flight: every one is answered (200 or 503), exit 0.
    let (answers, status) = std::thread::scope(|s| {
        let hs: Vec<_> = (0..8)
            .map(|_| s.spawn(|| http(a, "POST", "/v2/models/squeezenet/infer", &[], &body).0))
            .collect();
        std::thread::sleep(Duration::from_millis(30));
        let status = serve.terminate();
        (hs.into_iter().map(|h| h.join().unwrap()).collect::<Vec<u16>>(), status)
    });
    assert!(status.success(), "{status:?}");
    // 0: connected after the listener closed (never accepted); anything else would be a lost
    // or broken answer.
    assert!(answers.iter().all(|&c| c == 200 || c == 503 || c == 0), "{answers:?}");
    assert!(answers.contains(&200), "{answers:?}");
}
