//! Embed cosched in an application: load a device profile and a policy at startup, submit
//! inferences by model name from several threads, and read each one's completion.
//!
//! `bash scripts/setup-test-deps.sh && cargo run --release --example embed -- [POLICY]`
//!
//! POLICY is a baseline name (default `least-slack`), `drl` for the pretrained policy of the
//! device, or the path of a policy file.

use cosched::Scheduler;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let policy = std::env::args().nth(1).unwrap_or_else(|| "least-slack".into());
    // host-cpu: this kind of machine, split into two CPU "processors" with their own threads.
    let scheduler = Scheduler::builder()
        .device("host-cpu")
        .policy(policy.as_str())
        .models("models", Some(vec!["squeezenet".into(), "shufflenet".into()]))
        .build()?;
    for s in scheduler.executor().processor_status() {
        match (&s.active_ep, &s.error) {
            (Some(ep), _) => println!("processor {:<8} runs on {ep}", s.id),
            (None, err) => println!(
                "processor {:<8} masked: {}",
                s.id,
                err.as_deref().unwrap_or("unavailable")
            ),
        }
    }
    // Two application threads, each with its own stream of requests.
    std::thread::scope(|scope| {
        for model in ["squeezenet", "shufflenet"] {
            let scheduler = &scheduler;
            scope.spawn(move || {
                let mut latencies = Vec::new();
                for _ in 0..20 {
                    let inputs = scheduler.random_inputs(model).expect("model loaded");
                    match scheduler.submit(model, inputs) {
                        Ok(ticket) => {
                            let done = ticket.wait();
                            match done.result {
                                Ok(_) => latencies.push(done.latency_ms()),
                                Err(e) => eprintln!("{model}: {e}"),
                            }
                        }
                        Err(e) => eprintln!("{model}: refused: {e}"),
                    }
                }
                let mean = latencies.iter().sum::<f64>() / latencies.len().max(1) as f64;
                println!("{model:<11} {} completed, mean latency {mean:.2} ms", latencies.len());
            });
        }
    });
    scheduler.shutdown();
    Ok(())
}
