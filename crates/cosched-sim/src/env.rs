//! The reinforcement-learning environment over the simulator.

use crate::sim::{SimConfig, SimError, Simulator};
use cosched_core::{Action, DeviceProfile, Observation, Outcome, QueueOrder, ResolvedWorkload, RunReport};

/// What one [`SimEnv::step`] returns.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Step {
    /// Minus the objective shares of the requests that completed since the previous step (the
    /// effects of a placement arrive later, as completions; see [`cosched_core::ObjectiveWeights::request_cost`]).
    /// At the end, unfinished requests are charged here too.
    pub reward: f64,
    /// Whether the episode is over (no further observation).
    pub done: bool,
}

/// An episodic environment: one episode is one simulated run of a workload; one step is the
/// placement of one request.
///
/// ```
/// # use cosched_core::{Action, DeviceProfile, Workload};
/// # use cosched_sim::{SimConfig, SimEnv};
/// # let device = DeviceProfile::from_toml_str(r#"
/// # name = "d"
/// # source = "s"
/// # [[processor]]
/// # id = "cpu"
/// # kind = "cpu"
/// # ep = "cpu"
/// # slots = 1
/// # idle_power_w = 0.0
/// # busy_power_w = 1.0
/// # [[model]]
/// # name = "m"
/// # memory_mb = 1.0
/// # latency_ms = { cpu = 1.0 }
/// # "#, "d.toml").unwrap();
/// # let workload = Workload::from_toml_str(r#"
/// # name = "w"
/// # duration_s = 1.0
/// # [[stream]]
/// # model = "m"
/// # arrival = "poisson"
/// # rate_hz = 100.0
/// # slo_ms = 10.0
/// # "#, "w.toml", None).unwrap().resolve(&device, None, "w.toml").unwrap();
/// let mut env = SimEnv::new(&device, &workload, SimConfig::with_seed(1)).unwrap();
/// let mut steps = 0;
/// while let Some(obs) = env.observation() {
///     let action = Action::to(obs.valid().next().unwrap());
///     let step = env.step(action);
///     steps += 1;
///     if step.done { break; }
/// }
/// assert!(steps > 50);
/// ```
#[derive(Debug, Clone)]
pub struct SimEnv {
    device: DeviceProfile,
    workload: ResolvedWorkload,
    config: SimConfig,
    order: QueueOrder,
    sim: Simulator,
}

impl SimEnv {
    /// An environment whose first episode starts at once.
    pub fn new(device: &DeviceProfile, workload: &ResolvedWorkload, config: SimConfig) -> Result<SimEnv, SimError> {
        Self::with_queue_order(device, workload, config, QueueOrder::Fifo)
    }

    /// An environment whose processors take requests from their queues in `order` (a learning
    /// policy trains under the queue order it will be deployed with).
    pub fn with_queue_order(
        device: &DeviceProfile,
        workload: &ResolvedWorkload,
        config: SimConfig,
        order: QueueOrder,
    ) -> Result<SimEnv, SimError> {
        let sim = Simulator::new(device, workload, order, &config)?;
        Ok(SimEnv {
            device: device.clone(),
            workload: workload.clone(),
            config,
            order,
            sim,
        })
    }

    /// Start a new episode with another seed (and so other arrivals and service times).
    pub fn reset(&mut self, seed: u64) -> Option<&Observation> {
        self.config.seed = seed;
        self.sim = Simulator::new(&self.device, &self.workload, self.order, &self.config)
            .expect("the configuration was accepted by new()");
        self.sim.next_decision()
    }

    /// The observation of the request waiting for a placement; `None` when the episode is over.
    pub fn observation(&mut self) -> Option<&Observation> {
        self.sim.next_decision()
    }

    /// Place the waiting request and run to the next decision.
    pub fn step(&mut self, action: Action) -> Step {
        self.advance(action, |_| {})
    }

    /// Like [`SimEnv::step`], and also hands over the outcomes of the requests that completed
    /// (appended to `outcomes`), so that a learner can credit each request's cost to the
    /// decision that placed it (matched by [`Outcome::request`]).
    pub fn step_with_outcomes(&mut self, action: Action, outcomes: &mut Vec<Outcome>) -> Step {
        self.advance(action, |o| outcomes.push(o))
    }

    fn advance(&mut self, action: Action, mut sink: impl FnMut(Outcome)) -> Step {
        self.sim.dispatch(action);
        let done = self.sim.next_decision().is_none();
        let w = self.config.weights;
        let mut reward = 0.0;
        for o in self.sim.take_outcomes() {
            reward -= w.outcome_cost(&o);
            sink(o);
        }
        Step { reward, done }
    }

    /// The simulator underneath (estimator, device, clock).
    pub fn simulator(&self) -> &Simulator {
        &self.sim
    }

    /// End the episode and report it as `policy`.
    pub fn finish(self, policy: &str) -> RunReport {
        self.sim.finish(policy)
    }
}
