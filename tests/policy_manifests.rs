//! The shipped policies' manifests carry the test family that README reports, with the same
//! figures as the cases in docs/drl-evaluation.json: a re-evaluation that forgot the manifests,
//! or a retraining that kept an old report, fails here.

use cosched::rl::{Manifest, TestSummary};
use serde_json::Value;
use std::path::Path;

const TESTED: [&str; 4] = [
    "jetson-agx-orin",
    "jetson-orin-nano",
    "jetson-xavier-nx",
    "android-flagship",
];

fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

fn manifest(board: &str) -> Manifest {
    let path = root().join(format!("policies/{board}-balanced.policy/manifest.toml"));
    let text = std::fs::read_to_string(&path).unwrap();
    toml::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// The test family named in README's table.
fn readme_family() -> String {
    let readme = std::fs::read_to_string(root().join("README.md")).unwrap();
    let at = readme
        .find("Test family `random:")
        .expect("README names its test family");
    let rest = &readme[at + "Test family `".len()..];
    rest[..rest.find('`').unwrap()].to_string()
}

/// Checks `s` against the test cases of `policy` on `board` in docs/drl-evaluation.json.
fn agrees(s: &TestSummary, cases: &[Value], board: &str, policy: &str) {
    let mine: Vec<&Value> = cases
        .iter()
        .filter(|c| c["family"] == "test" && c["device"] == board && c["policy"] == policy)
        .collect();
    let ratio = |c: &Value| 1.0 - c["improvement"].as_f64().unwrap();
    let count = |f: &dyn Fn(f64) -> bool| mine.iter().filter(|c| f(ratio(c))).count() as u32;
    let worst = mine.iter().map(|c| ratio(c)).fold(0.0, f64::max);
    let what = format!("{board} {policy}");
    assert_eq!(s.cases as usize, mine.len(), "{what}: cases");
    assert_eq!(s.no_worse, count(&|r| r <= 1.01), "{what}: no worse");
    assert_eq!(s.worse_by_10_percent, count(&|r| r > 1.10), "{what}: > 10 % worse");
    assert!(
        (s.worst_ratio - worst).abs() < 1e-3,
        "{what}: worst {} against {worst}",
        s.worst_ratio
    );
    assert!(s.no_worse <= s.cases && s.worst_ratio > 0.0);
}

#[test]
fn each_tested_policy_reports_the_test_family_of_readme() {
    let family = readme_family();
    let json = std::fs::read_to_string(root().join("docs/drl-evaluation.json")).unwrap();
    let cases: Vec<Value> = serde_json::from_str(&json).unwrap();
    for board in TESTED {
        let m = manifest(board);
        let t = m
            .test
            .unwrap_or_else(|| panic!("{board}: no [test] section (scripts/evaluate-policies.sh writes it)"));
        assert_eq!(t.scenarios, family, "{board}");
        assert_eq!(t.loads, [0.5, 0.8, 0.95], "{board}");
        agrees(&t.guarded, &cases, board, "drl");
        agrees(&t.unguarded, &cases, board, "unguarded:drl");
        agrees(&t.prior, &cases, board, "prior");
        let v = &t.unguarded_vs_prior;
        assert!(
            v.lower + v.higher <= t.unguarded.cases && v.geometric_mean > 0.0,
            "{board}"
        );
    }
}

#[test]
fn a_policy_that_was_not_tested_says_nothing() {
    // host-cpu is measured on the built-in workloads only.
    assert!(manifest("host-cpu").test.is_none());
}
