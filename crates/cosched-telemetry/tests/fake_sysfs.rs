//! Readers against fake sysfs trees laid out like the real ones (same file names and units).

use std::fs;
use std::path::{Path, PathBuf};

use cosched_telemetry::{
    cpufreq, Battery, CoreFreq, Devfreq, EnergyIntegrator, EnergyMeter, EnergySource, GpuLoad, Ina3221, PowerSource,
    Rapl, TelemetryError,
};

/// A temporary directory standing in for `/`.
struct FakeRoot(tempfile::TempDir);

impl FakeRoot {
    fn new() -> FakeRoot {
        FakeRoot(tempfile::Builder::new().prefix("cosched-telemetry-").tempdir().unwrap())
    }

    fn path(&self) -> &Path {
        self.0.path()
    }

    /// Write `contents` plus the newline sysfs ends every value with.
    fn write(&self, rel: &str, contents: &str) -> PathBuf {
        let p = self.path().join(rel);
        fs::create_dir_all(p.parent().unwrap()).unwrap();
        fs::write(&p, format!("{contents}\n")).unwrap();
        p
    }
}

/// Jetson AGX Orin, JetPack 5/6: two INA3221 at 1-0040 and 1-0041.
fn agx_orin_rails(root: &FakeRoot) {
    let a = "sys/bus/i2c/drivers/ina3221/1-0040/hwmon/hwmon3";
    for (n, label, mv, ma) in [
        (1, "VDD_GPU_SOC", "19200", "532"),
        (2, "VDD_CPU_CV", "19184", "208"),
        (3, "VIN_SYS_5V0", "5016", "312"),
    ] {
        root.write(&format!("{a}/in{n}_label"), label);
        root.write(&format!("{a}/in{n}_input"), mv);
        root.write(&format!("{a}/curr{n}_input"), ma);
        root.write(&format!("{a}/in{n}_enable"), "1");
        // Shunt voltage channels in4..in6 have inputs but no labels.
        root.write(&format!("{a}/in{}_input", n + 3), "2660");
    }
    // The summation channel is labelled but has no current: it is not a rail.
    root.write(&format!("{a}/in7_label"), "sum of shunt voltages");
    root.write(&format!("{a}/in7_input"), "5000");
    root.write(&format!("{a}/name"), "ina3221");
    let b = "sys/bus/i2c/drivers/ina3221/1-0041/hwmon/hwmon4";
    for (n, label) in [(1, "NC"), (2, "VDDQ_VDD2_1V8AO"), (3, "NC")] {
        root.write(&format!("{b}/in{n}_label"), label);
        root.write(&format!("{b}/in{n}_input"), "5000");
        root.write(&format!("{b}/curr{n}_input"), "100");
    }
    // Driver-level files next to the device directories.
    root.write("sys/bus/i2c/drivers/ina3221/bind", "");
    root.write("sys/bus/i2c/drivers/ina3221/uevent", "");
}

/// Jetson Orin Nano / Orin NX, JetPack 6: one INA3221 whose first channel is the module input.
fn orin_nano_rails(root: &FakeRoot, vdd_in_ma: &str) {
    let a = "sys/bus/i2c/drivers/ina3221/1-0040/hwmon/hwmon1";
    for (n, label, mv, ma) in [
        (1, "VDD_IN", "5064", vdd_in_ma),
        (2, "VDD_CPU_GPU_CV", "5056", "239"),
        (3, "VDD_SOC", "5056", "279"),
    ] {
        root.write(&format!("{a}/in{n}_label"), label);
        root.write(&format!("{a}/in{n}_input"), mv);
        root.write(&format!("{a}/curr{n}_input"), ma);
    }
}

fn close(a: f64, b: f64, tol: f64) -> bool {
    (a - b).abs() <= tol * b.abs().max(1e-12)
}

#[test]
fn ina3221_hwmon_rails_multiply_millivolts_by_milliamps() {
    let root = FakeRoot::new();
    agx_orin_rails(&root);
    let rails = Ina3221::discover(root.path());
    let labels: Vec<&str> = rails.iter().map(|r| r.label()).collect();
    assert_eq!(labels, ["VDD_GPU_SOC", "VDD_CPU_CV", "VIN_SYS_5V0", "VDDQ_VDD2_1V8AO"]);
    // 19200 mV x 532 mA = 10214.4 mW.
    assert!(close(rails[0].power_w().unwrap(), 10.2144, 1e-12));
    assert!(close(rails[2].power_w().unwrap(), 5.016 * 0.312, 1e-12));
    assert_eq!(rails[0].name(), "ina3221:VDD_GPU_SOC");
    // No total-input rail on the AGX: all rails are summed.
    assert!(rails.iter().all(|r| !r.is_total_input()));
    assert_eq!(Ina3221::select_for_total(rails).len(), 4);
}

#[test]
fn ina3221_total_input_rail_is_preferred_over_the_sum() {
    let root = FakeRoot::new();
    orin_nano_rails(&root, "1186");
    let rails = Ina3221::select_for_total(Ina3221::discover(root.path()));
    assert_eq!(rails.len(), 1);
    assert_eq!(rails[0].label(), "VDD_IN");
    assert!(close(rails[0].power_w().unwrap(), 5.064 * 1.186, 1e-12));
    let meter = EnergyMeter::auto(root.path());
    assert_eq!(meter.source().to_string(), "measured:ina3221:VDD_IN");
}

#[test]
fn ina3221_old_iio_layout_reads_milliwatts() {
    // Jetson Nano on JetPack 4.
    let root = FakeRoot::new();
    let d = "sys/bus/i2c/drivers/ina3221x/6-0040/iio:device0";
    for (n, name, mw) in [
        (0, "POM_5V_IN", "2389"),
        (1, "POM_5V_GPU", "40"),
        (2, "POM_5V_CPU", "479"),
    ] {
        root.write(&format!("{d}/rail_name_{n}"), name);
        root.write(&format!("{d}/in_power{n}_input"), mw);
        root.write(&format!("{d}/in_voltage{n}_input"), "5000");
        root.write(&format!("{d}/in_current{n}_input"), "100");
    }
    let rails = Ina3221::discover(root.path());
    assert_eq!(rails.len(), 3);
    assert_eq!(rails[1].label(), "POM_5V_GPU");
    assert!(close(rails[1].power_w().unwrap(), 0.040, 1e-12));
    let total = Ina3221::select_for_total(rails);
    assert_eq!(total.len(), 1);
    assert_eq!(total[0].label(), "POM_5V_IN");
    assert!(close(total[0].power_w().unwrap(), 2.389, 1e-12));
}

/// A desktop with RAPL: one package with core/uncore sub-domains, and a psys domain.
fn rapl_tree(root: &FakeRoot, energy_uj: &str) {
    let max = "262143328850";
    root.write("sys/class/powercap/intel-rapl/enabled", "1");
    root.write("sys/class/powercap/intel-rapl:0/name", "package-0");
    root.write("sys/class/powercap/intel-rapl:0/energy_uj", energy_uj);
    root.write("sys/class/powercap/intel-rapl:0/max_energy_range_uj", max);
    for (sub, name) in [("0", "core"), ("1", "uncore")] {
        root.write(&format!("sys/class/powercap/intel-rapl:0:{sub}/name"), name);
        root.write(&format!("sys/class/powercap/intel-rapl:0:{sub}/energy_uj"), "1000");
        root.write(
            &format!("sys/class/powercap/intel-rapl:0:{sub}/max_energy_range_uj"),
            max,
        );
    }
    root.write("sys/class/powercap/intel-rapl:1/name", "psys");
    root.write("sys/class/powercap/intel-rapl:1/energy_uj", "5000");
    root.write("sys/class/powercap/intel-rapl:1/max_energy_range_uj", max);
}

#[test]
fn rapl_takes_packages_only_and_differences_across_a_wrap() {
    let root = FakeRoot::new();
    // 1 J before the wrap.
    rapl_tree(&root, "262142328850");
    let mut domains = Rapl::discover(root.path());
    assert_eq!(domains.len(), 1, "sub-domains and psys must not be counted");
    let pkg = &mut domains[0];
    assert_eq!(pkg.name(), "rapl:package-0");
    assert!(close(pkg.range_j().unwrap(), 262143.32885, 1e-12));

    let mut it = EnergyIntegrator::new(pkg.name());
    it.push(0.0, pkg.sample());
    // The counter wrapped and went on 2 J: 3 J in 0.1 s.
    root.write("sys/class/powercap/intel-rapl:0/energy_uj", "2000000");
    it.push(0.1, pkg.sample());
    assert!(close(it.joules(), 3.0, 1e-9), "{}", it.joules());
    root.write("sys/class/powercap/intel-rapl:0/energy_uj", "2500000");
    it.push(0.2, pkg.sample());
    assert!(close(it.joules(), 3.5, 1e-9), "{}", it.joules());
    assert_eq!(it.failed_samples(), 0);

    assert_eq!(
        EnergyMeter::auto(root.path()).source().to_string(),
        "measured:rapl:package-0"
    );
}

#[test]
fn devfreq_and_gpu_load_parse_hz_and_per_mille() {
    let root = FakeRoot::new();
    let gpu = "sys/class/devfreq/17000000.ga10b";
    root.write(&format!("{gpu}/cur_freq"), "918000000");
    root.write(&format!("{gpu}/max_freq"), "1300500000");
    root.write(&format!("{gpu}/min_freq"), "306000000");
    root.write(
        &format!("{gpu}/available_frequencies"),
        "306000000 408000000 510000000 612000000 714000000 816000000 918000000 1020000000 1122000000 1224000000 1300500000",
    );
    root.write("sys/class/devfreq/15340000.vic/cur_freq", "115200000");
    root.write("sys/devices/platform/gpu.0/load", "537");

    let all = Devfreq::discover(root.path());
    assert_eq!(all.len(), 2);
    let g = Devfreq::gpu(root.path()).unwrap();
    assert_eq!(g.name(), "17000000.ga10b");
    assert_eq!(g.cur_freq_hz().unwrap(), 918_000_000);
    assert_eq!(g.max_freq_hz().unwrap(), 1_300_500_000);
    let avail = g.available_frequencies_hz().unwrap();
    assert_eq!(avail.len(), 11);
    assert_eq!(avail[0], 306_000_000);
    assert!(close(g.freq_scale().unwrap(), 918.0 / 1300.5, 1e-12));
    assert!(!all.iter().find(|d| d.name() == "15340000.vic").unwrap().is_gpu());

    let load = GpuLoad::discover(root.path()).unwrap();
    assert!(close(load.load().unwrap(), 0.537, 1e-12));
}

#[test]
fn older_jetson_and_adreno_gpu_load_files() {
    let root = FakeRoot::new();
    root.write("sys/devices/gpu.0/load", "1000");
    assert_eq!(GpuLoad::discover(root.path()).unwrap().load().unwrap(), 1.0);

    let phone = FakeRoot::new();
    phone.write("sys/class/kgsl/kgsl-3d0/gpu_busy_percentage", "37 %");
    assert!(close(
        GpuLoad::discover(phone.path()).unwrap().load().unwrap(),
        0.37,
        1e-12
    ));
    assert!(GpuLoad::discover(FakeRoot::new().path()).is_none());
}

#[test]
fn cpufreq_reads_khz_per_core_in_numeric_order() {
    let root = FakeRoot::new();
    for (cpu, khz) in [(0, "1510400"), (1, "729600"), (10, "2201600")] {
        root.write(
            &format!("sys/devices/system/cpu/cpu{cpu}/cpufreq/scaling_cur_freq"),
            khz,
        );
        root.write(
            &format!("sys/devices/system/cpu/cpu{cpu}/cpufreq/scaling_max_freq"),
            "2201600",
        );
    }
    // An offline core without cpufreq, and the non-core entries of the real directory.
    root.write("sys/devices/system/cpu/cpu2/online", "0");
    root.write("sys/devices/system/cpu/cpufreq/boost", "0");
    root.write("sys/devices/system/cpu/cpuidle/current_driver", "psci_idle");
    root.write("sys/devices/system/cpu/online", "0-1,10");
    let f = cpufreq(root.path());
    assert_eq!(
        f,
        [
            CoreFreq {
                cpu: 0,
                cur_khz: 1_510_400,
                max_khz: Some(2_201_600)
            },
            CoreFreq {
                cpu: 1,
                cur_khz: 729_600,
                max_khz: Some(2_201_600)
            },
            CoreFreq {
                cpu: 10,
                cur_khz: 2_201_600,
                max_khz: Some(2_201_600)
            },
        ]
    );
    assert!(cpufreq(FakeRoot::new().path()).is_empty());
}

#[test]
fn android_battery_uses_the_magnitude_of_the_current() {
    let root = FakeRoot::new();
    let d = "sys/class/power_supply/battery";
    root.write(&format!("{d}/type"), "Battery");
    root.write(&format!("{d}/status"), "Discharging");
    root.write(&format!("{d}/current_now"), "-1250000");
    root.write(&format!("{d}/voltage_now"), "3870000");
    root.write("sys/class/power_supply/usb/type", "USB");
    let mut b = Battery::discover(root.path()).unwrap();
    assert_eq!(b.name(), "android:battery");
    assert_eq!(b.current_ua().unwrap(), -1_250_000);
    // 1.25 A x 3.87 V.
    assert!(close(b.power_w().unwrap(), 4.8375, 1e-12));
    // Phones that count discharge as positive give the same power.
    root.write(&format!("{d}/current_now"), "1250000");
    assert!(close(b.sample().unwrap().power_w.unwrap(), 4.8375, 1e-12));
    assert_eq!(
        EnergyMeter::auto(root.path()).source().to_string(),
        "measured:android:battery"
    );

    // On the charger the current is not the board's draw.
    root.write(&format!("{d}/status"), "Charging");
    assert!(matches!(b.power_w(), Err(TelemetryError::Implausible { .. })));
    assert_eq!(EnergyMeter::auto(root.path()).source(), EnergySource::Modelled);
}

#[test]
fn a_battery_with_another_name_is_found_by_type() {
    let root = FakeRoot::new();
    root.write("sys/class/power_supply/bms/type", "Battery");
    root.write("sys/class/power_supply/bms/current_now", "-500000");
    root.write("sys/class/power_supply/bms/voltage_now", "4000000");
    root.write("sys/class/power_supply/ac/type", "Mains");
    let b = Battery::discover(root.path()).unwrap();
    assert_eq!(b.name(), "power_supply:bms");
    assert!(close(b.power_w().unwrap(), 2.0, 1e-12));
}

#[test]
fn garbage_and_missing_files_are_errors_not_panics() {
    let root = FakeRoot::new();
    agx_orin_rails(&root);
    let rails = Ina3221::discover(root.path());
    let a = root.path().join("sys/bus/i2c/drivers/ina3221/1-0040/hwmon/hwmon3");
    fs::write(a.join("curr1_input"), "\u{0}\u{1}garbage").unwrap();
    assert!(matches!(rails[0].power_w(), Err(TelemetryError::Parse { .. })));
    fs::remove_file(a.join("in2_input")).unwrap();
    assert!(matches!(rails[1].power_w(), Err(TelemetryError::Io { .. })));
    // The whole device unbinds.
    fs::remove_dir_all(root.path().join("sys/bus/i2c/drivers/ina3221/1-0041")).unwrap();
    assert!(rails[3].power_w().is_err());

    rapl_tree(&root, "");
    assert!(
        Rapl::discover(root.path()).is_empty(),
        "an unreadable counter is not a source"
    );
    rapl_tree(&root, "12345");
    let mut pkg = Rapl::discover(root.path()).pop().unwrap();
    root.write("sys/class/powercap/intel-rapl:0/energy_uj", "-3");
    assert!(matches!(pkg.sample(), Err(TelemetryError::Parse { .. })));

    root.write("sys/class/devfreq/17000000.ga10b/cur_freq", "fast");
    root.write(
        "sys/class/devfreq/17000000.ga10b/available_frequencies",
        "306000000 lots",
    );
    let g = Devfreq::gpu(root.path()).unwrap();
    assert!(g.cur_freq_hz().is_err());
    assert!(g.max_freq_hz().is_err());
    assert!(g.available_frequencies_hz().is_err());
    root.write("sys/devices/gpu.0/load", "1500");
    assert!(matches!(
        GpuLoad::discover(root.path()).unwrap().load(),
        Err(TelemetryError::Implausible { .. })
    ));

    root.write("sys/class/power_supply/battery/current_now", "-1000");
    root.write("sys/class/power_supply/battery/voltage_now", "");
    assert!(Battery::discover(root.path()).unwrap().power_w().is_err());

    root.write("sys/devices/system/cpu/cpu0/cpufreq/scaling_cur_freq", "n/a");
    assert!(cpufreq(root.path()).is_empty());
}

#[test]
fn a_rail_that_vanishes_during_a_run_is_counted_not_fatal() {
    let root = FakeRoot::new();
    orin_nano_rails(&root, "1000");
    let meter = EnergyMeter::auto(root.path())
        .with_period(std::time::Duration::from_millis(5))
        .start();
    std::thread::sleep(std::time::Duration::from_millis(40));
    fs::remove_dir_all(root.path().join("sys/bus/i2c")).unwrap();
    std::thread::sleep(std::time::Duration::from_millis(40));
    let r = meter.stop();
    assert!(r.failed_samples > 0, "{r:?}");
    assert!(r.samples >= 2, "{r:?}");
    assert_eq!(r.source.to_string(), "measured:ina3221:VDD_IN");
    // 5.064 W held across the outage.
    assert!(close(r.avg_power_w, 5.064, 0.02), "{r:?}");
}

#[test]
fn empty_root_gives_a_modelled_reading() {
    let root = FakeRoot::new();
    let meter = EnergyMeter::auto(root.path());
    assert_eq!(meter.source(), EnergySource::Modelled);
    let r = meter.start().stop();
    assert_eq!(r.source.to_string(), "modelled");
    assert_eq!(r.joules, 0.0);
    assert_eq!(r.or_modelled(12.5).joules, 12.5);
}
