//! Open-loop overload of a KServe v2 server: `RATE` binary-tensor infer requests per second for
//! `SECONDS`, spread over `CONNECTIONS` keep-alive connections, each request sent at its
//! scheduled time (or at once when its connection is behind). Prints one JSON line: requests
//! sent, answers by status, requests that got no answer, the rate actually offered, and the
//! server's peak resident memory when `--pid` names it (`VmHWM` from `/proc`).
//!
//! ```sh
//! cargo run --release -p cosched-serve --example overload -- \
//!     --addr 127.0.0.1:8000 --model mobilenet_v2 --input data --shape 1,3,224,224 \
//!     --rate 3100 --seconds 10 --connections 1024 --pid "$(pgrep -f 'cosched-bench serve')"
//! ```
//!
//! `scripts/overload-serve.sh` runs it against a `serve` it starts (docs/serve.md).

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

struct Args {
    addr: SocketAddr,
    model: String,
    input: String,
    shape: Vec<usize>,
    rate: f64,
    seconds: f64,
    connections: usize,
    pid: Option<u32>,
}

fn parse_args() -> Result<Args, String> {
    let mut it = std::env::args().skip(1);
    let mut get = BTreeMap::new();
    while let Some(k) = it.next() {
        let v = it.next().ok_or_else(|| format!("{k} needs a value"))?;
        get.insert(k, v);
    }
    let take = |k: &str| get.get(k).cloned().ok_or_else(|| format!("missing {k}"));
    let num = |k: &str, d: &str| -> Result<f64, String> {
        let v = get.get(k).map_or(d, String::as_str);
        v.parse().map_err(|_| format!("{k}: not a number: {v:?}"))
    };
    Ok(Args {
        addr: take("--addr")?.parse().map_err(|e| format!("--addr: {e}"))?,
        model: take("--model")?,
        input: take("--input")?,
        shape: take("--shape")?
            .split(',')
            .map(|d| d.parse().map_err(|_| format!("--shape: bad dimension {d:?}")))
            .collect::<Result<_, _>>()?,
        rate: num("--rate", "1000")?,
        seconds: num("--seconds", "10")?,
        connections: num("--connections", "512")? as usize,
        pid: get
            .get("--pid")
            .map(|p| p.parse().map_err(|_| format!("--pid: {p:?}")))
            .transpose()?,
    })
}

/// One request's bytes: Triton's binary tensor extension (JSON header, then the raw tensor).
fn request(a: &Args) -> Vec<u8> {
    let n: usize = a.shape.iter().product();
    let shape = a.shape.iter().map(|d| d.to_string()).collect::<Vec<_>>().join(",");
    let header = format!(
        r#"{{"inputs":[{{"name":"{}","shape":[{shape}],"datatype":"FP32","parameters":{{"binary_data_size":{}}}}}]}}"#,
        a.input,
        n * 4
    );
    let tensor: Vec<u8> = (0..n).flat_map(|i| ((i % 251) as f32 / 251.0).to_le_bytes()).collect();
    let mut out = format!(
        "POST /v2/models/{}/infer HTTP/1.1\r\nHost: x\r\nContent-Type: application/octet-stream\r\n\
         Inference-Header-Content-Length: {}\r\nContent-Length: {}\r\n\r\n",
        a.model,
        header.len(),
        header.len() + tensor.len()
    )
    .into_bytes();
    out.extend_from_slice(header.as_bytes());
    out.extend_from_slice(&tensor);
    out
}

/// Reads one response off a keep-alive connection: its status, or `None` when the connection
/// broke before a whole response came.
fn read_response(r: &mut BufReader<TcpStream>) -> Option<u16> {
    let mut line = String::new();
    r.read_line(&mut line).ok()?;
    let status = line.split_whitespace().nth(1)?.parse().ok()?;
    let mut len = 0usize;
    loop {
        line.clear();
        if r.read_line(&mut line).ok()? == 0 {
            return None;
        }
        let l = line.trim_end();
        if l.is_empty() {
            break;
        }
        if let Some((k, v)) = l.split_once(':') {
            if k.eq_ignore_ascii_case("content-length") {
                len = v.trim().parse().ok()?;
            }
        }
    }
    let mut body = vec![0; len];
    r.read_exact(&mut body).ok()?;
    Some(status)
}

#[derive(Default)]
struct Tally {
    sent: u64,
    by_status: BTreeMap<u16, u64>,
    unanswered: u64,
    connect_failures: u64,
    /// When the last request went out: the offered rate is over the sending window only.
    last_sent: Option<Instant>,
}

fn peak_rss_mib(pid: u32) -> Option<f64> {
    let s = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let kb: f64 = s
        .lines()
        .find(|l| l.starts_with("VmHWM:"))?
        .split_whitespace()
        .nth(1)?
        .parse()
        .ok()?;
    Some(kb / 1024.0)
}

fn main() {
    let a = match parse_args() {
        Ok(a) => a,
        Err(e) => {
            eprintln!("overload: {e}");
            std::process::exit(2);
        }
    };
    let body = Arc::new(request(&a));
    let tally = Arc::new(Mutex::new(Tally::default()));
    let start = Instant::now() + Duration::from_millis(200);
    let total = (a.rate * a.seconds).round() as u64;
    let k = a.connections.max(1) as u64;
    let threads: Vec<_> = (0..k)
        .map(|c| {
            let (body, tally, addr) = (body.clone(), tally.clone(), a.addr);
            let interval = Duration::from_secs_f64(1.0 / a.rate);
            std::thread::Builder::new()
                .stack_size(256 << 10)
                .spawn(move || {
                    let mut conn: Option<BufReader<TcpStream>> = None;
                    // This connection's share: requests c, c + k, c + 2k, ...
                    let mut i = c;
                    while i < total {
                        let due = start + interval * i as u32;
                        if let Some(wait) = due.checked_duration_since(Instant::now()) {
                            std::thread::sleep(wait);
                        }
                        i += k;
                        if conn.is_none() {
                            match TcpStream::connect(addr) {
                                Ok(s) => {
                                    let _ = s.set_nodelay(true);
                                    let _ = s.set_read_timeout(Some(Duration::from_secs(120)));
                                    conn = Some(BufReader::new(s));
                                }
                                Err(_) => {
                                    tally.lock().unwrap().connect_failures += 1;
                                    continue;
                                }
                            }
                        }
                        let Some(r) = conn.as_mut() else { continue };
                        let sent_at = Instant::now();
                        // A server may answer (503) and close before reading the whole body:
                        // read the answer even when the write fails.
                        let wrote = r.get_mut().write_all(&body).is_ok();
                        let status = read_response(r);
                        if !wrote {
                            conn = None;
                        }
                        let mut t = tally.lock().unwrap();
                        t.sent += 1;
                        t.last_sent = Some(t.last_sent.map_or(sent_at, |l| l.max(sent_at)));
                        match status {
                            Some(s) => *t.by_status.entry(s).or_default() += 1,
                            None => {
                                t.unanswered += 1;
                                conn = None;
                            }
                        }
                    }
                })
                .expect("spawn a client thread")
        })
        .collect();
    for t in threads {
        let _ = t.join();
    }
    let elapsed = start.elapsed().as_secs_f64();
    let t = tally.lock().unwrap();
    let window = t
        .last_sent
        .map_or(elapsed, |l| l.duration_since(start).as_secs_f64().max(1e-3));
    let statuses: Vec<String> = t.by_status.iter().map(|(s, n)| format!("\"{s}\":{n}")).collect();
    let rss = a
        .pid
        .and_then(peak_rss_mib)
        .map_or("null".to_string(), |m| format!("{m:.1}"));
    println!(
        "{{\"target_rate\":{},\"offered_rate\":{:.1},\"seconds\":{elapsed:.2},\"sent\":{},\"by_status\":{{{}}},\
         \"unanswered\":{},\"connect_failures\":{},\"server_peak_rss_mib\":{rss}}}",
        a.rate,
        t.sent as f64 / window,
        t.sent,
        statuses.join(","),
        t.unanswered,
        t.connect_failures
    );
}
