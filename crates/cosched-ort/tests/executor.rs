//! The executor against real ONNX Runtime sessions on the CPU.

mod common;

use common::{device, models_dir, two_cpus};
use cosched_core::{baseline, ModelId, ProcessorId, StreamId};
use cosched_ort::{
    Backpressure, Completion, ExecError, Executor, ExecutorConfig, Fault, InferenceError, Reply, ShutdownMode,
    SubmitError,
};
use rand::SeedableRng;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

fn config(device: &cosched_core::DeviceProfile, policy: &str) -> ExecutorConfig {
    ExecutorConfig::new(baseline(policy, device, Default::default()).expect("baseline"))
}

#[test]
fn outputs_match_a_direct_session() {
    let dir = models_dir();
    let dev = two_cpus(&[("tiny", 0.05), ("squeezenet", 7.0)]);
    let exec = Executor::new(&dev, &dir, config(&dev, "round-robin")).expect("executor");
    let env = cosched_ort::runtime::environment(None).expect("ort");
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(7);
    for name in ["tiny", "squeezenet"] {
        let m = dev.model_id(name).unwrap();
        let info = exec.model(m).unwrap().clone();
        let mut direct = ort::session::Session::builder(&env)
            .unwrap()
            .with_intra_threads(1)
            .unwrap()
            .commit_from_file(&info.path)
            .unwrap();
        for _ in 0..3 {
            let inputs = info.random_inputs(&mut rng);
            let values: Vec<ort::session::SessionInputValue<'_>> = inputs
                .iter()
                .map(|a| ort::value::TensorRef::from_array_view(a).unwrap().into())
                .collect();
            let want: Vec<ndarray::ArrayD<f32>> = direct
                .run(values.as_slice())
                .unwrap()
                .values()
                .map(|v| v.try_extract_array::<f32>().unwrap().to_owned())
                .collect();
            drop(values);
            // Twice, so both processors (round-robin) are compared.
            for _ in 0..2 {
                let got = exec.submit(m, inputs.clone()).unwrap().wait();
                let outs = got.result.expect("inference ok");
                assert_eq!(outs.len(), want.len());
                for (a, b) in outs.iter().zip(&want) {
                    assert_eq!(a.shape(), b.shape());
                    assert_eq!(a, b, "{name}: executor output differs from a direct session");
                }
            }
        }
    }
    let status = exec.processor_status();
    assert!(status
        .iter()
        .all(|s| s.active_ep.as_deref() == Some("CPUExecutionProvider")));
}

/// Collects completions by request id, counting duplicates.
#[derive(Default)]
struct Sink {
    done: Mutex<HashMap<u64, (u32, Completion)>>,
}

impl Sink {
    fn reply(self: &Arc<Self>) -> Reply {
        let s = self.clone();
        Reply::Callback(Box::new(move |c: Completion| {
            let mut d = s.done.lock().unwrap();
            let e = d.entry(c.request.0).or_insert((0, c.clone()));
            e.0 += 1;
        }))
    }
}

#[test]
fn overload_every_request_completes_exactly_once_with_bounded_queues() {
    let dir = models_dir();
    let dev = two_cpus(&[("squeezenet", 7.0)]);
    let cap = 8;
    let exec = Executor::new(
        &dev,
        &dir,
        ExecutorConfig {
            queue_capacity: cap,
            ..config(&dev, "least-loaded")
        },
    )
    .expect("executor");
    let m = dev.model_id("squeezenet").unwrap();
    let info = exec.model(m).unwrap().clone();
    let input = info.random_inputs(&mut rand::rng());
    // Measure service time, then submit at 10x the two workers' throughput for ~0.6 s.
    let t = exec.submit(m, input.clone()).unwrap().wait();
    let service_ms = t.end_ms - t.start_ms.unwrap();
    let gap = Duration::from_secs_f64(service_ms / 2.0 / 10.0 / 1000.0);
    let sink = Arc::new(Sink::default());
    let mut accepted = Vec::new();
    let mut rejected = 0;
    let mut max_outstanding = 0;
    let start = std::time::Instant::now();
    while start.elapsed() < Duration::from_millis(600) {
        match exec.submit_with_reply(m, StreamId(0), 50.0, input.clone(), sink.reply()) {
            Ok(id) => accepted.push(id.0),
            Err(SubmitError::Overloaded { capacity, .. }) => {
                assert_eq!(capacity, cap);
                rejected += 1;
            }
            Err(e) => panic!("unexpected {e}"),
        }
        max_outstanding = max_outstanding.max(exec.stats().outstanding);
        std::thread::sleep(gap);
    }
    assert!(rejected > 0, "10x overload must hit the queue bound");
    // Queued at most `cap` per processor plus one running per slot.
    assert!(max_outstanding <= (2 * cap + 2) as u64, "outstanding {max_outstanding}");
    let mut exec = exec;
    exec.shutdown(ShutdownMode::Drain);
    let done = sink.done.lock().unwrap();
    assert_eq!(done.len(), accepted.len(), "every accepted request completes");
    for id in &accepted {
        let (n, c) = &done[id];
        assert_eq!(*n, 1, "request {id} completed {n} times");
        assert!(c.result.is_ok());
    }
    let stats = exec.stats();
    assert_eq!(stats.accepted, accepted.len() as u64 + 1);
    assert_eq!(stats.rejected, rejected);
    assert_eq!(stats.outstanding, 0);
}

#[test]
fn blocking_backpressure_waits_instead_of_rejecting() {
    let dir = models_dir();
    let dev = two_cpus(&[("tiny", 0.05)]);
    let exec = Executor::new(
        &dev,
        &dir,
        ExecutorConfig {
            queue_capacity: 1,
            backpressure: Backpressure::Block,
            ..config(&dev, "round-robin")
        },
    )
    .unwrap();
    let m = dev.model_id("tiny").unwrap();
    let input = exec.model(m).unwrap().random_inputs(&mut rand::rng());
    let tickets: Vec<_> = (0..200).map(|_| exec.submit(m, input.clone()).unwrap()).collect();
    for t in tickets {
        assert!(t.wait().result.is_ok());
    }
    assert_eq!(exec.stats().rejected, 0);
}

#[test]
fn cancel_on_shutdown_answers_every_queued_request() {
    let dir = models_dir();
    let dev = two_cpus(&[("squeezenet", 7.0)]);
    let mut exec = Executor::new(
        &dev,
        &dir,
        ExecutorConfig {
            queue_capacity: 1000,
            ..config(&dev, "round-robin")
        },
    )
    .unwrap();
    let m = dev.model_id("squeezenet").unwrap();
    let input = exec.model(m).unwrap().random_inputs(&mut rand::rng());
    let tickets: Vec<_> = (0..60).map(|_| exec.submit(m, input.clone()).unwrap()).collect();
    exec.shutdown(ShutdownMode::Cancel);
    let (mut ok, mut cancelled) = (0, 0);
    for t in tickets {
        match t
            .wait_timeout(Duration::from_secs(1))
            .expect("answered by shutdown")
            .result
        {
            Ok(_) => ok += 1,
            Err(InferenceError::Cancelled) => cancelled += 1,
            Err(e) => panic!("unexpected {e}"),
        }
    }
    assert_eq!(ok + cancelled, 60);
    assert!(cancelled > 0);
    assert!(matches!(exec.submit(m, input), Err(SubmitError::ShuttingDown)));
}

#[test]
fn worker_panic_is_failed_over_and_the_worker_replaced() {
    let dir = models_dir();
    let dev = two_cpus(&[("tiny", 0.05)]);
    let exec = Executor::new(&dev, &dir, config(&dev, "fastest-only")).unwrap();
    let m = dev.model_id("tiny").unwrap();
    let input = exec.model(m).unwrap().random_inputs(&mut rand::rng());
    // fastest-only sends everything to cpu-a (first on ties).
    let first = exec.submit(m, input.clone()).unwrap().wait();
    let a = first.processor.unwrap();
    exec.inject_fault(a, Fault::Panic);
    let hit = exec.submit(m, input.clone()).unwrap().wait();
    let outs = hit.result.expect("failed over, not failed");
    assert_eq!(hit.attempts, 2);
    assert_ne!(hit.processor, Some(a), "ran on the other processor");
    assert_eq!(outs, first.result.unwrap());
    // The replacement worker takes requests again.
    let mut ran_on_a = false;
    for _ in 0..200 {
        let c = exec.submit(m, input.clone()).unwrap().wait();
        assert!(c.result.is_ok());
        ran_on_a |= c.processor == Some(a);
        if ran_on_a {
            break;
        }
        std::thread::sleep(Duration::from_millis(5));
    }
    assert!(ran_on_a, "the replaced worker never ran again");
    let s = exec.stats();
    assert_eq!(s.worker_restarts, 1);
    assert_eq!(s.failovers, 1);
    assert_eq!(s.failed, 0);
}

#[test]
fn an_inference_error_is_retried_once_elsewhere_then_reported() {
    let dir = models_dir();
    let dev = two_cpus(&[("tiny", 0.05)]);
    let exec = Executor::new(&dev, &dir, config(&dev, "fastest-only")).unwrap();
    let m = dev.model_id("tiny").unwrap();
    let input = exec.model(m).unwrap().random_inputs(&mut rand::rng());
    exec.inject_fault(ProcessorId(0), Fault::Error);
    let c = exec.submit(m, input.clone()).unwrap().wait();
    assert!(c.result.is_ok());
    assert_eq!((c.attempts, c.processor), (2, Some(ProcessorId(1))));
    // Both processors fail: the request fails with the reason, once.
    exec.inject_fault(ProcessorId(0), Fault::Error);
    exec.inject_fault(ProcessorId(1), Fault::Error);
    let c = exec.submit(m, input.clone()).unwrap().wait();
    match c.result {
        Err(InferenceError::Failed { message, .. }) => assert!(message.contains("injected")),
        other => panic!("expected a failure, got {other:?}"),
    }
    assert_eq!(exec.stats().failed, 1);
}

#[test]
fn an_unavailable_execution_provider_masks_its_processor() {
    let dir = models_dir();
    // This machine has no CUDA: with or without the `cuda` feature, the "gpu" processor cannot
    // run and must be reported and masked, never silently run on the CPU.
    let dev = device(&[("gpu", "cuda", 1), ("cpu", "cpu", 1)], &[("tiny", 0.05)]);
    let exec = Executor::new(&dev, &dir, config(&dev, "fastest-only")).expect("cpu still usable");
    let st = exec.processor_status();
    assert_eq!(st[0].requested_ep, "cuda");
    assert_eq!(st[0].active_ep, None);
    let why = st[0].error.as_deref().unwrap();
    assert!(why.contains("cuda") || why.contains("CUDA"), "{why}");
    assert_eq!(st[1].active_ep.as_deref(), Some("CPUExecutionProvider"));
    let m = dev.model_id("tiny").unwrap();
    let input = exec.model(m).unwrap().random_inputs(&mut rand::rng());
    let tickets: Vec<_> = (0..20).map(|_| exec.submit(m, input.clone()).unwrap()).collect();
    for t in tickets {
        let c = t.wait();
        assert!(c.result.is_ok());
        assert_eq!(c.processor, Some(ProcessorId(1)));
    }
    assert_eq!(exec.stats().invalid_actions, 0, "the masked processor is not offered");

    let only_gpu = device(&[("gpu", "cuda", 1)], &[("tiny", 0.05)]);
    match Executor::new(&only_gpu, &dir, config(&only_gpu, "fastest-only")) {
        Err(ExecError::NoUsableProcessor(msg)) => assert!(msg.contains("gpu"), "{msg}"),
        Err(e) => panic!("unexpected error {e}"),
        Ok(_) => panic!("a CUDA-only profile must not start on this machine"),
    }
}

#[test]
fn a_fake_execution_provider_in_a_profile_is_a_clear_error() {
    let text = "name = \"x\"\nsource = \"s\"\n[[processor]]\nid = \"npu\"\nkind = \"npu\"\nep = \"magic\"\nslots = 1\nidle_power_w = 0.0\nbusy_power_w = 1.0\n[[model]]\nname = \"tiny\"\nmemory_mb = 1.0\nlatency_ms = { npu = 1.0 }\n";
    let e = cosched_core::DeviceProfile::from_toml_str(text, "fake.toml")
        .unwrap_err()
        .to_string();
    assert!(e.contains("fake.toml") && e.contains("magic"), "{e}");
}

#[test]
fn missing_and_corrupt_model_files_are_clear_errors() {
    let dir = models_dir();
    let dev = two_cpus(&[("no_such_model", 1.0)]);
    match Executor::new(&dev, &dir, config(&dev, "round-robin")) {
        Err(e @ ExecError::ModelNotFound { .. }) => {
            let s = e.to_string();
            assert!(
                s.contains("no_such_model.onnx") && s.contains("make-test-models.py"),
                "{s}"
            );
        }
        Err(e) => panic!("unexpected error {e}"),
        Ok(_) => panic!("a missing model must fail"),
    }
    let tmp = std::env::temp_dir().join(format!("cosched-corrupt-{}", std::process::id()));
    std::fs::create_dir_all(&tmp).unwrap();
    std::fs::write(tmp.join("broken.onnx"), b"this is not a protobuf \x00\x01\x02").unwrap();
    let dev = two_cpus(&[("broken", 1.0)]);
    match Executor::new(&dev, &tmp, config(&dev, "round-robin")) {
        Err(e @ ExecError::Model { .. }) => {
            let s = e.to_string();
            assert!(s.contains("broken") && s.contains("cpu-a"), "{s}");
        }
        Err(e) => panic!("unexpected error {e}"),
        Ok(_) => panic!("a corrupt model must fail"),
    }
    std::fs::remove_dir_all(&tmp).unwrap();
}

#[test]
fn bad_inputs_and_unknown_models_are_refused_without_a_completion() {
    let dir = models_dir();
    let dev = two_cpus(&[("tiny", 0.05), ("squeezenet", 7.0)]);
    let exec = Executor::new(
        &dev,
        &dir,
        ExecutorConfig {
            models: Some(vec!["tiny".into()]),
            ..config(&dev, "round-robin")
        },
    )
    .unwrap();
    let tiny = dev.model_id("tiny").unwrap();
    let wrong = vec![ndarray::ArrayD::<f32>::zeros(vec![1, 3])];
    assert!(matches!(exec.submit(tiny, wrong), Err(SubmitError::BadInput { .. })));
    let sq = dev.model_id("squeezenet").unwrap();
    assert!(matches!(exec.submit(sq, vec![]), Err(SubmitError::UnknownModel(_))));
    assert!(matches!(
        exec.submit(ModelId(99), vec![]),
        Err(SubmitError::UnknownModel(_))
    ));
    assert_eq!(exec.stats().accepted, 0);
}
