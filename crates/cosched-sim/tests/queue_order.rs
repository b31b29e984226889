//! A policy may change its queue order in the middle of a run (the run-time guard does when it
//! hands the decisions to a candidate that orders its queues otherwise): what is already waiting
//! is then taken in the new order, not only what arrives later.

use cosched_core::{
    Action, Arrival, DeviceProfile, Observation, Outcome, Policy, ProcessorId, QueueOrder, Slo, Stream, Workload,
};
use cosched_sim::{simulate, SimConfig};
use std::sync::Arc;

/// Sends everything to the one processor, in queue order `before` for its first `switch_after`
/// decisions and `after` from then on, and records which stream each completion belongs to.
struct Switching {
    decisions: u32,
    switch_after: u32,
    before: QueueOrder,
    after: QueueOrder,
    completed: Vec<u16>,
}

impl Policy for Switching {
    fn name(&self) -> &str {
        "switching"
    }
    fn decide(&mut self, _: &Observation) -> Action {
        self.decisions += 1;
        Action::to(ProcessorId(0))
    }
    fn observe(&mut self, o: &Outcome) {
        self.completed.push(o.stream.0);
    }
    fn queue_order(&self) -> QueueOrder {
        if self.decisions < self.switch_after {
            self.before
        } else {
            self.after
        }
    }
}

/// Completion order by stream (0: loose deadline, 1: tight) of three loose requests at 0, 1 and
/// 2 ms and two tight ones at 3 and 4 ms on one slot taking 10 ms each.
fn completion_order(before: QueueOrder, after: QueueOrder) -> Vec<u16> {
    let device = DeviceProfile::from_toml_str(
        r#"
name = "one-slot"
source = "tests"
[[processor]]
id = "p"
kind = "cpu"
ep = "cpu"
slots = 1
idle_power_w = 0.0
busy_power_w = 1.0
[[model]]
name = "m"
memory_mb = 1.0
latency_ms = { p = 10.0 }
latency_cv = { p = 0.0 }
"#,
        "one-slot.toml",
    )
    .unwrap();
    let stream = |name: &str, times: &[f64], slo_ms: f64| Stream {
        name: name.into(),
        model: None,
        arrival: Arrival::Trace {
            file: "inline".into(),
            events: Arc::new(times.iter().map(|&t| (t, "m".to_string())).collect()),
        },
        slo: Slo::Ms(slo_ms),
    };
    let w = Workload {
        name: "two-deadlines".into(),
        description: String::new(),
        duration_s: 0.005,
        load: None,
        streams: vec![
            stream("loose", &[0.0, 1.0, 2.0], 1000.0),
            stream("tight", &[3.0, 4.0], 100.0),
        ],
    }
    .resolve(&device, None, "two-deadlines")
    .unwrap();
    let mut p = Switching {
        decisions: 0,
        switch_after: 5,
        before,
        after,
        completed: Vec::new(),
    };
    let r = simulate(&device, &w, &mut p, &SimConfig::with_seed(1));
    assert_eq!((r.arrived, r.completed), (5, 5));
    p.completed
}

#[test]
fn requests_already_waiting_follow_a_queue_order_changed_mid_run() {
    use QueueOrder::{Fifo, LeastSlackFirst};
    // The first request runs at once; the other four wait, and the order changes once all of
    // them are queued.
    assert_eq!(completion_order(Fifo, Fifo), [0, 0, 0, 1, 1]);
    assert_eq!(completion_order(Fifo, LeastSlackFirst), [0, 1, 1, 0, 0]);
    assert_eq!(completion_order(LeastSlackFirst, LeastSlackFirst), [0, 1, 1, 0, 0]);
    assert_eq!(completion_order(LeastSlackFirst, Fifo), [0, 0, 0, 1, 1]);
}
