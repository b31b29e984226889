//! NVML is loaded at run time: where it is absent, loading is an error, not a crash.

use cosched_telemetry::{Nvml, PowerSource, TelemetryError};

#[test]
fn a_missing_library_is_an_error() {
    let err = Nvml::load_from("/nonexistent/libnvidia-ml.so.1").unwrap_err();
    assert!(matches!(err, TelemetryError::NvmlUnavailable(_)), "{err}");
    assert!(err.to_string().contains("libnvidia-ml.so.1"), "{err}");
}

#[test]
fn a_library_that_is_not_nvml_is_an_error() {
    // libc is on every glibc system and has none of NVML's symbols.
    let err = Nvml::load_from("libc.so.6").unwrap_err();
    assert!(err.to_string().contains("nvmlInit_v2"), "{err}");
}

#[test]
fn load_fails_cleanly_without_a_driver_and_works_with_one() {
    match Nvml::load() {
        // The development machines have no NVIDIA driver.
        Err(e) => assert!(
            matches!(e, TelemetryError::NvmlUnavailable(_) | TelemetryError::Nvml { .. }),
            "{e}"
        ),
        // On a GPU machine the readings must be sane.
        Ok(nvml) => {
            for mut gpu in nvml.devices() {
                let w = gpu.power_w().unwrap();
                assert!(w > 1.0 && w < 2000.0, "gpu {} draws {w} W?", gpu.index());
                let u = gpu.utilization().unwrap();
                assert!((0.0..=1.0).contains(&u.gpu));
                let s = gpu.sample().unwrap();
                assert!(s.energy_j.is_some() || s.power_w.is_some());
                assert_eq!(gpu.name(), format!("nvml:{}", gpu.index()));
            }
        }
    }
}
