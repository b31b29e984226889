//! Simulated requests per wall-clock second: `least-loaded` on `jetson-agx-orin` with the
//! mixed-SLO workload at 80 % load, single thread.
//!
//! `cargo bench --bench sim_throughput`; criterion prints the rate as "elem/s" (one element =
//! one simulated request, arrival to completion).

use cosched::sim::{simulate, SimConfig};
use cosched::{baseline, DeviceProfile, Workload};
use criterion::{criterion_group, criterion_main, Criterion, Throughput};

fn sim_throughput(c: &mut Criterion) {
    let device = DeviceProfile::builtin("jetson-agx-orin").expect("shipped profile");
    let mut workload = Workload::builtin("mixed-slo").expect("built-in workload");
    workload.duration_s = 10.0;
    let workload = workload.resolve(&device, Some(0.8), "mixed-slo").expect("resolves");
    let config = SimConfig::with_seed(1);
    let mut policy = baseline("least-loaded", &device, Default::default()).expect("baseline");
    let requests = simulate(&device, &workload, &mut *policy, &config).arrived;
    let mut group = c.benchmark_group("sim_throughput");
    group.throughput(Throughput::Elements(requests));
    group.sample_size(20);
    group.bench_function("least-loaded/jetson-agx-orin/mixed-slo@0.8", |b| {
        b.iter(|| simulate(&device, &workload, &mut *policy, &config))
    });
    group.finish();
}

criterion_group!(benches, sim_throughput);
criterion_main!(benches);
