//! The embedding API: a scheduler with the pretrained DRL policy, fine-tuned online from real
//! completions, answers every request; fine-tuning what cannot learn is a clear error.
//! Needs `bash scripts/setup-test-deps.sh` (libonnxruntime and the test models).

use cosched::{Error, FineTuneConfig, PolicyError, Scheduler};

#[test]
fn a_fine_tuned_drl_scheduler_answers_every_request() {
    let scheduler = Scheduler::builder()
        .device("host-cpu")
        .policy("drl")
        .fine_tune(FineTuneConfig::default())
        .models("models", Some(vec!["squeezenet".into(), "shufflenet".into()]))
        .build()
        .expect("scheduler builds");
    let mut tickets = Vec::new();
    for i in 0..40 {
        let model = if i % 2 == 0 { "squeezenet" } else { "shufflenet" };
        let inputs = scheduler.random_inputs(model).expect("model loaded");
        tickets.push(scheduler.submit(model, inputs).expect("accepted"));
    }
    let ok = tickets
        .into_iter()
        .map(|t| t.wait())
        .filter(|c| c.result.is_ok())
        .count();
    assert_eq!(ok, 40, "every request completes");
    scheduler.shutdown();
}

#[test]
fn fine_tuning_a_baseline_or_a_custom_policy_is_refused() {
    let err = Scheduler::builder()
        .device("host-cpu")
        .policy("least-slack")
        .fine_tune(FineTuneConfig::default())
        .build()
        .err()
        .expect("refused");
    assert!(matches!(err, Error::Policy(PolicyError::NotLearned(_))), "{err}");
    assert!(err.to_string().contains("cannot be fine-tuned"), "{err}");

    let device = cosched::DeviceProfile::builtin("host-cpu").unwrap();
    let custom = cosched::baseline("fastest-only", &device, Default::default()).unwrap();
    let err = Scheduler::builder()
        .device("host-cpu")
        .custom_policy(custom)
        .fine_tune(FineTuneConfig::default())
        .build()
        .err()
        .expect("refused");
    assert!(matches!(err, Error::Builder(_)), "{err}");
}
