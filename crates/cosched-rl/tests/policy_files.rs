//! Policy files: a round trip, and every way a file can be wrong gives a one-line error that
//! names the file and the problem.

use cosched_core::DeviceProfile;
use cosched_rl::{load_policy, save_policy, train, Manifest, PriorForm, TrainConfig};
use std::path::Path;
use std::sync::OnceLock;

fn nano() -> DeviceProfile {
    DeviceProfile::builtin("jetson-orin-nano").unwrap()
}

/// A policy trained briefly once and saved; each test copies it.
fn trained() -> &'static (Manifest, Vec<u8>) {
    static T: OnceLock<(Manifest, Vec<u8>)> = OnceLock::new();
    T.get_or_init(|| {
        let cfg = TrainConfig {
            steps: 4_000,
            eval_every: 4_000,
            eval_duration_s: 2.0,
            ..TrainConfig::new(nano())
        };
        let t = train(&cfg, &mut |_| {}).unwrap();
        (Manifest::new(&cfg, &t, "test"), t.weights)
    })
}

fn write(dir: &Path) {
    let (m, w) = trained();
    save_policy(dir, m, w).unwrap();
}

fn load_err(dir: &Path, device: &DeviceProfile) -> String {
    let e = load_policy(dir, device).expect_err("must be refused").to_string();
    assert!(!e.contains('\n'), "one line: {e}");
    assert!(e.contains(&dir.display().to_string()), "names the file: {e}");
    e
}

#[test]
fn a_saved_policy_loads_and_decides_like_the_original() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("p.policy");
    write(&dir);
    let p = load_policy(&dir, &nano()).unwrap();
    assert_eq!(cosched_core::Policy::name(&p), "drl:balanced");
}

/// Weights are selected on generated validation scenarios, not on the workloads trained on.
#[test]
fn the_manifest_records_selection_on_the_validation_family() {
    let (m, _) = trained();
    assert_eq!(m.evaluation.cases.len(), 12 * 3, "12 scenarios x 3 loads");
    for c in &m.evaluation.cases {
        assert!(c.workload.starts_with("scn-2500-"), "selected on {}", c.workload);
        assert!(c.best_baseline_objective > 0.0 && c.best_baseline_objective.is_finite());
    }
}

#[test]
fn the_prior_form_comes_from_the_manifest_and_an_unknown_one_is_refused() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("p.policy");
    write(&dir);
    let form = trained().0.prior;
    assert_eq!(load_policy(&dir, &nano()).unwrap().network().prior_form(), form);
    let other = match form {
        PriorForm::PricedObjective => PriorForm::EarliestFinish,
        PriorForm::EarliestFinish => PriorForm::PricedObjective,
    };
    let line = |f: PriorForm| format!("prior = \"{}\"", f.name());
    edit_manifest(&dir, &line(form), &line(other));
    assert_eq!(load_policy(&dir, &nano()).unwrap().network().prior_form(), other);
    edit_manifest(&dir, &line(other), "prior = \"fastest\"");
    let e = load_err(&dir, &nano());
    assert!(e.contains("manifest.toml") && e.contains("fastest"), "{e}");
}

#[test]
fn a_flipped_byte_in_the_weights_is_refused() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("p.policy");
    write(&dir);
    let path = dir.join("weights.bpk");
    let mut b = std::fs::read(&path).unwrap();
    let i = b.len() / 2;
    b[i] ^= 0x40;
    std::fs::write(&path, b).unwrap();
    let e = load_err(&dir, &nano());
    assert!(e.contains("SHA-256") && e.contains("corrupted"), "{e}");
}

#[test]
fn truncated_weights_are_refused() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("p.policy");
    write(&dir);
    let path = dir.join("weights.bpk");
    let b = std::fs::read(&path).unwrap();
    std::fs::write(&path, &b[..b.len() - 100]).unwrap();
    let e = load_err(&dir, &nano());
    assert!(e.contains("truncated"), "{e}");
}

#[test]
fn another_devices_policy_is_refused_naming_both_devices() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("p.policy");
    write(&dir);
    let orin = DeviceProfile::builtin("jetson-agx-orin").unwrap();
    let e = load_err(&dir, &orin);
    assert!(e.contains("jetson-orin-nano") && e.contains("jetson-agx-orin"), "{e}");
}

#[test]
fn a_renamed_device_with_other_processors_is_refused() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("p.policy");
    write(&dir);
    let mut other = nano();
    other.processors[0].id = "cpu-renamed".into();
    let e = load_err(&dir, &other);
    assert!(e.contains("made for device"), "{e}");
}

fn edit_manifest(dir: &Path, from: &str, to: &str) {
    let path = dir.join("manifest.toml");
    let text = std::fs::read_to_string(&path).unwrap();
    assert!(text.contains(from), "manifest has {from}");
    std::fs::write(&path, text.replacen(from, to, 1)).unwrap();
}

#[test]
fn another_observation_version_is_refused() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("p.policy");
    write(&dir);
    edit_manifest(&dir, "observation_version = 1", "observation_version = 99");
    let e = load_err(&dir, &nano());
    assert!(e.contains("observation version 99"), "{e}");
}

#[test]
fn an_unknown_format_version_is_refused() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("p.policy");
    write(&dir);
    edit_manifest(&dir, "format_version = 2", "format_version = 3");
    let e = load_err(&dir, &nano());
    assert!(e.contains("format_version 3"), "{e}");
}

/// A file of the first layout (its action space a bare list of processors) is told to retrain,
/// not shown a parse error about the field it spells differently.
#[test]
fn a_file_of_the_first_layout_is_told_to_retrain() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("p.policy");
    write(&dir);
    let path = dir.join("manifest.toml");
    let text = std::fs::read_to_string(&path).unwrap();
    let start = text.find("[action_space]").expect("a table");
    let end = start + text[start..].find("\n\n").expect("a blank line after it");
    let old = format!(
        "{}\naction_space = [\"cpu\", \"gpu\", \"dla0\"]{}",
        &text[..start].replacen("format_version = 2", "format_version = 1", 1),
        &text[end..]
    );
    std::fs::write(&path, old).unwrap();
    let e = load_err(&dir, &nano());
    assert!(e.contains("format_version 1") && e.contains("retrain it"), "{e}");
}

#[test]
fn the_manifest_states_the_action_space_and_the_loaded_policy_carries_it() {
    let (m, _) = trained();
    assert_eq!(m.action_space, cosched_core::ActionSpace::for_device(&nano()));
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("p.policy");
    write(&dir);
    let p = load_policy(&dir, &nano()).unwrap();
    assert_eq!(p.action_space(), Some(&m.action_space));
}

#[test]
fn an_action_space_of_unknown_duplicated_or_reordered_rules_is_refused() {
    for (from, to, says) in [
        ("\"greedy\",", "\"biggest\",", "unknown variant"),
        (
            "hedge = [\"none\"",
            "hedge = [\"tail\"",
            "start with the policy's own rule",
        ),
        ("hedge = [\"none\"", "hedge = [\"none\", \"none\"", "list a rule once"),
    ] {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("p.policy");
        write(&dir);
        edit_manifest(&dir, from, to);
        let e = load_err(&dir, &nano());
        assert!(e.contains(says), "{from} -> {to}: {e}");
    }
}

#[test]
fn a_malformed_or_missing_manifest_is_refused() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("p.policy");
    write(&dir);
    std::fs::write(dir.join("manifest.toml"), "format_version = [\n").unwrap();
    let e = load_err(&dir, &nano());
    assert!(e.contains("manifest.toml"), "{e}");
    std::fs::remove_file(dir.join("manifest.toml")).unwrap();
    let e = load_err(&dir, &nano());
    assert!(e.contains("manifest.toml: missing"), "{e}");
}

#[test]
fn missing_weights_or_directory_are_refused() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("p.policy");
    write(&dir);
    std::fs::remove_file(dir.join("weights.bpk")).unwrap();
    let e = load_err(&dir, &nano());
    assert!(e.contains("weights.bpk: missing"), "{e}");
    let e = load_err(&tmp.path().join("nowhere.policy"), &nano());
    assert!(e.contains("no such directory"), "{e}");
}

#[test]
fn weights_whose_checksum_matches_but_burn_cannot_read_are_refused() {
    // Someone edits both the weights and the manifest's checksum: burn's own loader must still
    // turn the garbage into an error, not a panic.
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("p.policy");
    write(&dir);
    let garbage = vec![7u8; 300];
    std::fs::write(dir.join("weights.bpk"), &garbage).unwrap();
    let (m, _) = trained();
    let mut m = m.clone();
    m.weights_bytes = garbage.len() as u64;
    m.weights_sha256 = {
        use sha2::Digest;
        sha2::Sha256::digest(&garbage)
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect()
    };
    save_policy(&dir, &m, &garbage).unwrap();
    let e = load_err(&dir, &nano());
    assert!(e.contains("burn cannot read it"), "{e}");
}

#[test]
fn a_policy_of_another_algorithm_is_refused() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("p.policy");
    write(&dir);
    edit_manifest(&dir, "algorithm = \"double-dueling-dqn/", "algorithm = \"ppo/");
    let e = load_err(&dir, &nano());
    assert!(
        e.contains("trained by algorithm \\\"ppo/") || e.contains("trained by algorithm \"ppo/"),
        "{e}"
    );
}

#[test]
fn rules_out_of_order_unknown_or_on_a_dqn_policy_are_refused() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("p.policy");
    let with_rules = |rules: &str| {
        write(&dir);
        edit_manifest(&dir, "\nprior = ", &format!("\nrules = {rules}\nprior = "));
        load_err(&dir, &nano())
    };
    let e = with_rules(r#"["fastest", "prior"]"#);
    assert!(e.contains("must start with") && e.contains("fastest"), "{e}");
    let e = with_rules(r#"["prior", "prior"]"#);
    assert!(e.contains("list a rule once"), "{e}");
    let e = with_rules(r#"["prior", "gpu-only"]"#);
    assert!(e.contains("manifest.toml") && e.contains("gpu-only"), "{e}");
    // Rules on weights that DQN trained: the algorithm names the mismatch.
    let e = with_rules(r#"["prior", "fastest"]"#);
    assert!(e.contains("trained by algorithm"), "{e}");
}
