//! A libonnxruntime that is not there is one clear error, not a panic. Its own test binary, so
//! that no other test has loaded the library in this process first.

mod common;

use cosched_ort::{ExecError, Executor, ExecutorConfig};

#[test]
fn a_missing_library_is_a_clear_error() {
    let dev = common::two_cpus(&[("tiny", 0.05)]);
    let policy = cosched_core::baseline("round-robin", &dev, Default::default()).unwrap();
    let config = ExecutorConfig {
        ort_library: Some("/nonexistent/libonnxruntime.so".into()),
        ..ExecutorConfig::new(policy)
    };
    match Executor::new(&dev, &common::models_dir(), config) {
        Err(e @ ExecError::Library { .. }) => {
            let s = e.to_string();
            assert!(s.contains("/nonexistent/libonnxruntime.so"), "{s}");
            assert!(
                s.contains("fetch-onnxruntime.sh") && s.contains("ORT_DYLIB_PATH"),
                "{s}"
            );
            assert!(!s.contains('\n'), "one line: {s}");
        }
        Err(e) => panic!("unexpected error {e}"),
        Ok(_) => panic!("must not start without the library"),
    }
    // The real library, found by the normal lookup, still loads afterwards.
    let dev_ok = common::two_cpus(&[("tiny", 0.05)]);
    let policy = cosched_core::baseline("round-robin", &dev_ok, Default::default()).unwrap();
    Executor::new(&dev_ok, &common::models_dir(), ExecutorConfig::new(policy)).expect("loads via the lookup order");
}
