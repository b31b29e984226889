//! Checkpoints: a run writes one at every evaluation, a resumed run continues from its
//! placement with its weights, and a checkpoint that is corrupted or belongs to another run is
//! refused with a message naming the folder and the problem.

use cosched_core::DeviceProfile;
use cosched_rl::{load_checkpoint, train, RlError, TrainConfig, TrainMethod};

fn cfg(dir: &std::path::Path, steps: u64) -> TrainConfig {
    TrainConfig {
        steps,
        eval_every: 5_000,
        eval_duration_s: 2.0,
        checkpoint_dir: Some(dir.to_path_buf()),
        ..TrainConfig::new(DeviceProfile::builtin("jetson-orin-nano").unwrap())
    }
}

fn message(e: RlError) -> String {
    let m = e.to_string();
    assert!(matches!(e, RlError::Checkpoint { .. }), "{m}");
    assert!(!m.contains('\n'), "one line: {m}");
    m
}

#[test]
fn a_run_resumes_from_its_checkpoint() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("ck");
    let first = train(&cfg(&dir, 10_000), &mut |_| {}).unwrap();
    let ck = load_checkpoint(&dir).unwrap();
    assert!(ck.state.step >= 10_000, "the last evaluation is checkpointed");
    assert_eq!(ck.state.best_step, first.best_step);

    // Resume with a larger budget: progress starts after the checkpoint, not at zero.
    let resumed_cfg = TrainConfig {
        resume_from: Some(dir.clone()),
        ..cfg(&dir, 20_000)
    };
    let mut first_step = None;
    let resumed = train(&resumed_cfg, &mut |p| {
        first_step.get_or_insert(p.step);
    })
    .unwrap();
    assert!(
        first_step.unwrap() > ck.state.step,
        "{first_step:?} vs {}",
        ck.state.step
    );
    assert!(resumed.steps >= 20_000);
    // Resuming twice from the same checkpoint gives the same weights.
    let again = train(&resumed_cfg, &mut |_| {}).unwrap();
    assert!(resumed.last == again.last, "resume is deterministic");
}

#[test]
fn a_checkpoint_of_another_run_or_corrupted_is_refused() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("ck");
    train(&cfg(&dir, 5_000), &mut |_| {}).unwrap();
    let resume = |c: TrainConfig| {
        train(
            &TrainConfig {
                resume_from: Some(dir.clone()),
                checkpoint_dir: None,
                ..c
            },
            &mut |_| {},
        )
        .err()
        .map(message)
    };

    let other_seed = resume(TrainConfig {
        seed: 99,
        ..cfg(&dir, 10_000)
    })
    .unwrap();
    assert!(other_seed.contains("--seed 1, not 99"), "{other_seed}");
    let other_device = resume(TrainConfig {
        device: DeviceProfile::builtin("jetson-agx-orin").unwrap(),
        ..cfg(&dir, 10_000)
    })
    .unwrap();
    assert!(other_device.contains("another device"), "{other_device}");
    let other_method = resume(TrainConfig {
        method: TrainMethod::Rules { every: 8, horizon: 50 },
        ..cfg(&dir, 10_000)
    })
    .unwrap();
    assert!(other_method.contains("--method dqn, not rules"), "{other_method}");
    let past_end = resume(cfg(&dir, 1_000)).unwrap();
    assert!(past_end.contains("past --steps"), "{past_end}");

    // A flipped byte in the weights.
    let path = dir.join("online.bpk");
    let mut bytes = std::fs::read(&path).unwrap();
    let mid = bytes.len() / 2;
    bytes[mid] ^= 0x40;
    std::fs::write(&path, &bytes).unwrap();
    let corrupted = resume(cfg(&dir, 10_000)).unwrap();
    assert!(
        corrupted.contains("online.bpk does not match its SHA-256"),
        "{corrupted}"
    );
    assert!(corrupted.contains("ck"), "names the folder: {corrupted}");

    // No checkpoint at all.
    std::fs::remove_dir_all(&dir).unwrap();
    let missing = resume(cfg(&dir, 10_000)).unwrap();
    assert!(missing.contains("state.json"), "{missing}");
}

#[test]
fn restarts_checkpoint_each_seed_and_resume_reloads_finished_runs() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("ck");
    let c = cfg(&dir, 5_000);
    let first = cosched_rl::train_restarts(&c, 2, &mut |_| {}).unwrap();
    assert!(dir.join("seed-1/state.json").is_file() && dir.join("seed-2/state.json").is_file());
    assert!(first.seed == 1 || first.seed == 2);
    // Both runs are finished: resuming reloads them and keeps the same one.
    let again = cosched_rl::train_restarts(
        &TrainConfig {
            resume_from: Some(dir.clone()),
            ..c
        },
        2,
        &mut |_| {},
    )
    .unwrap();
    assert_eq!(again.seed, first.seed);
    assert!(again.plain == first.plain, "the kept weights come back");
}
