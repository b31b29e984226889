//! Print what telemetry this machine has: `cargo run -p cosched-telemetry --example probe [ROOT]`.
//!
//! Meters for one second with whatever [`EnergyMeter::auto`] picks, so it also shows the
//! `energy_source` a real run would report here.

use std::path::PathBuf;
use std::time::Duration;

use cosched_telemetry::{cpufreq, Battery, CpuLoad, Devfreq, EnergyMeter, GpuLoad, Ina3221, Nvml, Rapl};

fn main() {
    let root = std::env::args()
        .nth(1)
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("/"));
    let rails = Ina3221::discover(&root);
    println!("ina3221 rails: {}", rails.len());
    for r in &rails {
        println!(
            "  {:<20} {:?} W (total input: {})",
            r.label(),
            r.power_w().ok(),
            r.is_total_input()
        );
    }
    let rapl = Rapl::discover(&root);
    println!("rapl domains: {}", rapl.len());
    for d in &rapl {
        println!(
            "  {:<20} {:?} J (wraps at {:?} J)",
            d.domain(),
            d.energy_j().ok(),
            d.range_j()
        );
    }
    match Nvml::load() {
        Ok(nvml) => {
            for g in nvml.devices() {
                println!(
                    "nvml:{} power {:?} W, energy {:?} J, utilisation {:?}",
                    g.index(),
                    g.power_w().ok(),
                    g.total_energy_j().ok(),
                    g.utilization().ok()
                );
            }
        }
        Err(e) => println!("nvml: {e}"),
    }
    match Battery::discover(&root) {
        Some(b) => println!(
            "battery {}: {:?} uA, {:?} uV, external power: {}",
            b.supply(),
            b.current_ua().ok(),
            b.voltage_uv().ok(),
            b.on_external_power()
        ),
        None => println!("battery: none"),
    }
    for d in Devfreq::discover(&root) {
        println!(
            "devfreq {} (gpu: {}): {:?} Hz",
            d.name(),
            d.is_gpu(),
            d.cur_freq_hz().ok()
        );
    }
    match GpuLoad::discover(&root) {
        Some(l) => println!("gpu load {}: {:?}", l.path().display(), l.load().ok()),
        None => println!("gpu load: none"),
    }
    let freqs = cpufreq(&root);
    println!(
        "cpufreq: {} cores {:?}",
        freqs.len(),
        freqs.iter().map(|f| f.cur_khz).collect::<Vec<_>>()
    );
    let mut cpu = CpuLoad::new();
    let snap = cpu.sample();
    println!(
        "cpu: {} cores, {:.0} % busy, {:?} MHz",
        cpu.cores(),
        snap.global * 100.0,
        snap.freq_mhz
    );

    let meter = EnergyMeter::auto(&root);
    println!("energy meter: {}", meter.source());
    let running = meter.start();
    std::thread::sleep(Duration::from_secs(1));
    let r = running.stop();
    println!(
        "1 s: {:.3} J, {:.3} W, energy_source = \"{}\", {} samples, {} failed",
        r.joules, r.avg_power_w, r.source, r.samples, r.failed_samples
    );
}
