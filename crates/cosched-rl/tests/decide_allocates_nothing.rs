//! `DrlPolicy::decide` runs on the dispatch path of every request: it must not allocate.
//! A counting global allocator (per thread, so the test harness's other threads don't count)
//! checks it over real observations of a simulation.

use burn::prelude::*;
use cosched_core::{baseline, DeviceProfile, Observation, Policy, Workload};
use cosched_rl::net::QNet;
use cosched_rl::options::RULES;
use cosched_rl::DrlPolicy;
use cosched_sim::{SimConfig, SimEnv};
use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;

struct Counting;

thread_local! {
    static ALLOCATIONS: Cell<u64> = const { Cell::new(0) };
}

unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        ALLOCATIONS.with(|c| c.set(c.get() + 1));
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        unsafe { System.dealloc(ptr, layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        ALLOCATIONS.with(|c| c.set(c.get() + 1));
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

fn allocations() -> u64 {
    ALLOCATIONS.with(Cell::get)
}

#[test]
fn deciding_does_not_allocate() {
    let device = DeviceProfile::builtin("jetson-agx-orin").unwrap();
    let n_proc = device.processors.len();
    let n_models = device.models.len();
    let bdev = Device::flex();
    let init = burn::nn::Initializer::Uniform { min: -0.3, max: 0.3 };
    let net = QNet::seeded_with_head_init(
        &bdev,
        2,
        Observation::feature_len(n_proc, n_models),
        64,
        n_proc,
        init.clone(),
    );
    let mut policy = DrlPolicy::new("drl:test", net.to_plain(), n_models);

    let w = Workload::builtin("mixed-slo")
        .unwrap()
        .resolve(&device, Some(1.2), "mixed-slo")
        .unwrap();
    let mut env = SimEnv::new(&device, &w, SimConfig::with_seed(3)).unwrap();
    let mut ls = baseline("least-slack", &device, Default::default()).unwrap();
    let mut observations = Vec::new();
    while let Some(obs) = env.observation() {
        if observations.len() < 2000 {
            observations.push(obs.clone());
        }
        let a = ls.decide(obs);
        if env.step(a).done {
            break;
        }
    }
    assert!(observations.len() > 100);

    let before = allocations();
    for obs in &observations {
        std::hint::black_box(policy.decide(std::hint::black_box(obs)));
    }
    let during = allocations() - before;
    assert_eq!(during, 0, "{during} allocations in {} decisions", observations.len());
    // A policy over placement rules, with random outputs so that every rule takes turns.
    let net = QNet::seeded_with_head_init(
        &bdev,
        2,
        Observation::feature_len(n_proc, n_models),
        64,
        RULES.len(),
        init,
    );
    let mut plain = net.to_plain();
    plain.set_options(RULES.to_vec());
    let mut rules = DrlPolicy::new("drl:rules", plain, n_models);
    let before = allocations();
    for obs in &observations {
        std::hint::black_box(rules.decide(std::hint::black_box(obs)));
    }
    let during = allocations() - before;
    assert_eq!(
        during,
        0,
        "{during} allocations in {} rule decisions",
        observations.len()
    );
    // The counter itself works.
    let before = allocations();
    std::hint::black_box(vec![0u8; 64]);
    assert!(allocations() > before, "the counting allocator counts nothing");
}
