//! The run-time guard: choose the live policy by replaying the recent past.
//!
//! A learned policy can fall far behind a plain heuristic on a workload unlike the ones it was
//! trained on, and nothing in a single decision tells. The guard keeps the recent arrivals and,
//! every `period`, replays them in this simulator under each candidate policy, on the device
//! profile corrected by the service times the run has measured (never the true board: in the
//! simulator, the guard sees only what a real scheduler would), then moves the live decisions
//! to the candidate that did best, with hysteresis so that noise does not make it flap.
//!
//! What the replay approximates: it starts with the requests in flight (their queue positions
//! are not kept) and replays the arrivals of the last `window` rather than those to come, so it
//! predicts which policy suits the recent traffic; closed-loop clients are replayed as closed
//! loops (`guard/closed_loop.rs`), since their pace depends on the policy. A calm stretch,
//! where several candidates replay alike, is judged again at a heavier load, because it says
//! nothing about the burst that may follow. It judges early (`first_ms`, or sooner once a dense
//! run has placed `first_arrivals` requests), again soon after a switch (`probation_ms`), and
//! when a burst comes (`burst_sigma`), because a wrong choice costs most while queues grow; and
//! it replays the busiest window the run has seen (`peak_factor`), because the recent window of
//! a calm stretch forgets the burst that will come again. It runs inline in the simulator
//! (virtual time: deterministic runs) and on a background thread in real runs (off the dispatch
//! path: a decision only reads the verdict).

mod closed_loop;
mod config;
mod measured;
mod replay;

pub use config::GuardConfig;
use measured::Measured;
use replay::{judge, Snapshot, Verdict, Window};

use cosched_core::{Action, DeviceProfile, ModelId, Observation, Outcome, Policy, PolicySwitch, QueueOrder, RequestId};
use crossbeam_channel::{Receiver, Sender, TrySendError};
use std::collections::{HashMap, VecDeque};
use std::sync::Arc;

/// Builds a fresh instance of a candidate policy (for each replay).
pub type PolicyFactory = Arc<dyn Fn() -> Box<dyn Policy> + Send + Sync>;

/// A policy the guard may hand the decisions to.
#[derive(Clone)]
pub struct Candidate {
    /// Its name, as reports show it.
    pub name: String,
    /// A fresh instance of it.
    pub make: PolicyFactory,
}

/// One arrival as the guard remembers it.
#[derive(Debug, Clone, Copy)]
struct Seen {
    id: u64,
    arrival_ms: f64,
    stream: u16,
    model: ModelId,
    slo_ms: f64,
    /// When it finished (filled in when a snapshot is taken); infinite while it has not.
    done_ms: f64,
}

/// Whether a score of `r` beats the live policy's `live` by the hysteresis `margin`, the one
/// rule of both kinds of switch (any finite score beats an infinite one).
fn beats(r: f64, live: f64, margin: f64) -> bool {
    r < live * (1.0 - margin)
}

/// Whether a score of `r` is within `margin` of the best score `best`: the one tie rule of
/// both the judgement (whether to run the tie replay) and the switch (among whom to break it).
fn within(r: f64, best: f64, margin: f64) -> bool {
    r <= best * (1.0 + margin)
}

/// A policy that delegates every decision to one of its candidates and, every period, moves
/// the decisions to whichever candidate the replay of the recent past favours. See the module
/// docs.
pub struct Guard {
    name: String,
    device: DeviceProfile,
    candidates: Vec<Candidate>,
    live: Vec<Box<dyn Policy>>,
    active: usize,
    config: GuardConfig,
    recent: VecDeque<Seen>,
    in_flight: HashMap<u64, Seen>,
    /// When each finished request of `recent` finished.
    done: HashMap<u64, f64>,
    last_request: Option<RequestId>,
    next_judgement_ms: f64,
    /// Requests placed since the run started, and whether the early judgement
    /// ([`GuardConfig::first_arrivals`]) is still to come.
    placed: u64,
    early_pending: bool,
    measured: Measured,
    switches: Vec<PolicySwitch>,
    history: VecDeque<Vec<f64>>,
    /// Each model's fastest mean service time on the profile, ms: what an arrival of it weighs
    /// when windows are compared by their work.
    fastest_ms: Vec<f64>,
    /// The busiest window seen so far and its work rate (fastest service ms per ms).
    peak: Option<(f64, Arc<Window>)>,
    /// The last judgement: when, requests placed by then, and the arrival rate (per ms) of the
    /// window it replayed.
    judged: Option<(f64, u64, f64)>,
    background: Option<(Sender<Snapshot>, Receiver<Verdict>)>,
}

impl Guard {
    /// A guard over `candidates`; the first one decides until a replay shows another doing
    /// better. The queues follow the live candidate's order, so a switch also moves what is
    /// waiting into the new candidate's order.
    ///
    /// # Panics
    /// With no candidate.
    pub fn new(device: &DeviceProfile, candidates: Vec<Candidate>, config: GuardConfig) -> Guard {
        assert!(!candidates.is_empty(), "a guard needs at least one candidate");
        let live: Vec<Box<dyn Policy>> = candidates.iter().map(|c| (c.make)()).collect();
        let background = config.background.then(|| {
            let (snap_tx, snap_rx) = crossbeam_channel::bounded::<Snapshot>(1);
            let (verdict_tx, verdict_rx) = crossbeam_channel::bounded::<Verdict>(1);
            let cands = candidates.clone();
            let cfg = config.clone();
            let spawned = std::thread::Builder::new().name("cosched-guard".into()).spawn(move || {
                // Ends when the guard (the sender) is dropped.
                for s in snap_rx {
                    if verdict_tx.send(judge(&s, &cands, &cfg)).is_err() {
                        break;
                    }
                }
            });
            if let Err(e) = spawned {
                tracing::error!("cannot start the guard thread ({e}); judging inline");
            }
            (snap_tx, verdict_rx)
        });
        Guard {
            name: format!("guard({})", candidates[0].name),
            device: device.clone(),
            active: 0,
            next_judgement_ms: config.first_ms,
            placed: 0,
            early_pending: config.first_arrivals.is_some(),
            measured: Measured::new(device),
            recent: VecDeque::new(),
            in_flight: HashMap::new(),
            done: HashMap::new(),
            last_request: None,
            switches: Vec::new(),
            history: VecDeque::new(),
            fastest_ms: (0..device.models.len())
                .map(|m| device.best_latency_ms(ModelId(m as u16)))
                .map(|ms| if ms.is_finite() { ms } else { 0.0 })
                .collect(),
            peak: None,
            judged: None,
            live,
            candidates,
            config,
            background,
        }
    }

    /// The guard reported under another name (a learned policy guarded by default keeps its
    /// own).
    pub fn with_name(mut self, name: impl Into<String>) -> Guard {
        self.name = name.into();
        self
    }

    /// The candidates' names, the guarded policy first.
    pub fn candidate_names(&self) -> impl Iterator<Item = &str> {
        self.candidates.iter().map(|c| c.name.as_str())
    }

    /// The candidate deciding now.
    pub fn active(&self) -> &str {
        &self.candidates[self.active].name
    }

    fn snapshot(&mut self, now_ms: f64) -> Snapshot {
        let arrivals: Vec<Seen> = self
            .recent
            .iter()
            .map(|a| Seen {
                done_ms: self.done.get(&a.id).copied().unwrap_or(f64::INFINITY),
                ..*a
            })
            .collect();
        let peak = self.busiest(now_ms, &arrivals);
        Snapshot {
            at_ms: now_ms,
            in_flight: self.in_flight.values().copied().collect(),
            arrivals,
            peak,
            device: self.measured.corrected(&self.device),
        }
    }

    /// Whether the arrivals since the last judgement make a burst (see
    /// [`GuardConfig::burst_sigma`]).
    fn burst(&self, now_ms: f64) -> bool {
        let (Some(sigma), Some((at, placed_at, rate))) = (self.config.burst_sigma, self.judged) else {
            return false;
        };
        let dt = now_ms - at;
        if dt < self.config.probation_ms {
            return false;
        }
        let growth = self.config.stress.iter().copied().fold(1.0, f64::max);
        let expected = growth * rate * dt;
        let n = (self.placed - placed_at) as f64;
        n >= 10.0 && n > expected + sigma * expected.sqrt()
    }

    /// Keep `arrivals` as the busiest window if it is; the busiest window to replay with it,
    /// if it carried [`GuardConfig::peak_factor`] times its work.
    fn busiest(&mut self, now_ms: f64, arrivals: &[Seen]) -> Option<Arc<Window>> {
        let factor = self.config.peak_factor?;
        let first = arrivals.first()?.arrival_ms;
        let work: f64 = arrivals
            .iter()
            .map(|a| self.fastest_ms.get(a.model.index()).copied().unwrap_or(0.0))
            .sum();
        let rate = work / (now_ms - first).max(1.0);
        match &self.peak {
            Some((peak_rate, window)) if *peak_rate >= rate => (*peak_rate > factor * rate).then(|| Arc::clone(window)),
            _ => {
                let window = Window {
                    at_ms: now_ms,
                    arrivals: arrivals.to_vec(),
                };
                self.peak = Some((rate, Arc::new(window)));
                None
            }
        }
    }

    /// Move the decisions if the verdict says so; a switch puts the next judgement at most a
    /// probation after `now_ms`.
    fn apply(&mut self, v: Verdict, now_ms: f64) {
        let Some(latest) = v.regret else { return };
        self.history.push_back(latest);
        while self.history.len() > self.config.memory.max(1) as usize {
            self.history.pop_front();
        }
        let obj: Vec<f64> = (0..self.candidates.len())
            .map(|c| self.history.iter().map(|h| h[c]).fold(f64::NEG_INFINITY, f64::max))
            .collect();
        let best = (0..obj.len())
            .filter(|&i| obj[i].is_finite())
            .min_by(|&a, &b| obj[a].total_cmp(&obj[b]));
        let Some(best) = best else { return };
        let margin = self.config.margin;
        let active = self.active;
        let to = match v.tie.as_ref().filter(|_| within(obj[active], obj[best], margin)) {
            // The live policy ties with the best: among the tied that score no worse than it,
            // the one that copes best with the heavier replay, if it beats the live policy there
            // by the margin. A tied candidate that scores worse is left out: once it is live,
            // its replays show it a little further behind, and the rule without a tie hands
            // the run straight back: two scales read against one margin. (A candidate that
            // scores no worse than the live policy is tied with the best, as the live one is.)
            Some(tie) => (0..obj.len())
                .filter(|&i| obj[i] <= obj[active])
                .min_by(|&a, &b| tie[a].total_cmp(&tie[b]))
                .filter(|&b| b != active && beats(tie[b], tie[active], margin)),
            None => (best != active && beats(obj[best], obj[active], margin)).then_some(best),
        };
        tracing::debug!(
            at_s = v.at_ms / 1000.0,
            active = %self.candidates[active].name,
            best = %self.candidates[best].name,
            regrets = ?obj,
            tie = ?v.tie,
            "guard judgement"
        );
        if let Some(best) = to {
            self.switches.push(PolicySwitch {
                at_s: v.at_ms / 1000.0,
                from: self.candidates[self.active].name.clone(),
                to: self.candidates[best].name.clone(),
                predicted: self
                    .candidates
                    .iter()
                    .zip(&obj)
                    .map(|(c, o)| (c.name.clone(), *o))
                    .collect(),
            });
            self.active = best;
            self.next_judgement_ms = self.next_judgement_ms.min(now_ms + self.config.probation_ms);
        }
    }
}

impl Policy for Guard {
    fn name(&self) -> &str {
        &self.name
    }

    fn decide(&mut self, obs: &Observation) -> Action {
        let now = obs.now_ms;
        let r = &obs.request;
        if self.last_request != Some(r.id) {
            self.last_request = Some(r.id);
            let seen = Seen {
                id: r.id.0,
                arrival_ms: r.arrival_ms,
                stream: r.stream.0,
                model: r.model,
                slo_ms: r.slo_ms,
                done_ms: f64::INFINITY,
            };
            self.placed += 1;
            self.recent.push_back(seen);
            self.in_flight.insert(r.id.0, seen);
            while self
                .recent
                .front()
                .is_some_and(|a| a.arrival_ms < now - self.config.window_ms)
            {
                if let Some(old) = self.recent.pop_front() {
                    self.done.remove(&old.id);
                }
            }
        }
        if let Some((_, rx)) = &self.background {
            if let Ok(v) = rx.try_recv() {
                self.apply(v, now);
            }
        }
        let early = self.early_pending
            && now < self.config.first_ms
            && self.config.first_arrivals.is_some_and(|n| self.placed >= u64::from(n));
        if early || now >= self.next_judgement_ms || self.burst(now) {
            self.early_pending = false;
            // After the early judgement, the one at `first_ms` still comes.
            self.next_judgement_ms = if early {
                self.config.first_ms
            } else {
                now + self.config.period_ms
            };
            // A request that failed never reports an outcome: forget it after a window.
            let horizon = now - self.config.window_ms;
            self.in_flight.retain(|_, a| a.arrival_ms >= horizon);
            let snap = self.snapshot(now);
            let rate = snap
                .arrivals
                .first()
                .map_or(0.0, |a| snap.arrivals.len() as f64 / (now - a.arrival_ms).max(1.0));
            self.judged = Some((now, self.placed, rate));
            match &self.background {
                Some((tx, _)) => match tx.try_send(snap) {
                    // A judgement still running: skip this one rather than queue behind it.
                    Ok(()) | Err(TrySendError::Full(_)) => {}
                    Err(TrySendError::Disconnected(s)) => {
                        let v = judge(&s, &self.candidates, &self.config);
                        self.apply(v, now);
                    }
                },
                None => {
                    let v = judge(&snap, &self.candidates, &self.config);
                    self.apply(v, now);
                }
            }
        }
        self.live[self.active].decide(obs)
    }

    fn observe(&mut self, outcome: &Outcome) {
        self.measured.record(outcome);
        if let Some(a) = self.in_flight.remove(&outcome.request.0) {
            // Kept only while the request is in the window (its arrival was seen recently).
            if self.recent.front().is_some_and(|f| f.arrival_ms <= a.arrival_ms) {
                self.done.insert(a.id, a.arrival_ms + outcome.latency_ms);
            }
        }
        for p in &mut self.live {
            p.observe(outcome);
        }
    }

    fn queue_order(&self) -> QueueOrder {
        self.live[self.active].queue_order()
    }

    fn reset(&mut self, seed: u64) {
        for p in &mut self.live {
            p.reset(seed);
        }
        self.active = 0;
        self.recent.clear();
        self.in_flight.clear();
        self.done.clear();
        self.last_request = None;
        self.next_judgement_ms = self.config.first_ms;
        self.placed = 0;
        self.early_pending = self.config.first_arrivals.is_some();
        self.measured = Measured::new(&self.device);
        self.switches.clear();
        self.history.clear();
        self.peak = None;
        self.judged = None;
        if let Some((_, rx)) = &self.background {
            while rx.try_recv().is_ok() {}
        }
    }

    fn switches(&self) -> &[PolicySwitch] {
        &self.switches
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn baselines(device: &DeviceProfile, names: &[&'static str]) -> Vec<Candidate> {
        names
            .iter()
            .map(|&name| {
                let d = device.clone();
                Candidate {
                    name: name.into(),
                    make: Arc::new(move || cosched_core::baseline(name, &d, Default::default()).unwrap()),
                }
            })
            .collect()
    }

    fn guard_of(names: &[&'static str]) -> Guard {
        let device = DeviceProfile::builtin("jetson-agx-orin").unwrap();
        Guard::new(&device, baselines(&device, names), GuardConfig::default())
    }

    fn verdict(objectives: &[f64], tie: Option<&[f64]>) -> Verdict {
        Verdict {
            at_ms: 1000.0,
            regret: Some(objectives.to_vec()),
            tie: tie.map(<[f64]>::to_vec),
        }
    }

    #[test]
    fn a_tie_is_broken_by_the_heavier_replay_and_only_by_a_margin() {
        let names = ["least-slack", "fastest-only", "objective-greedy"];
        // The stress loads cannot tell the three apart; the heavier replay prefers the second.
        let mut g = guard_of(&names);
        g.apply(verdict(&[1.0, 1.0, 1.01], Some(&[1.4, 1.0, 1.2])), 1000.0);
        assert_eq!(g.active(), "fastest-only");
        assert_eq!(g.switches.len(), 1);
        // Within the margin there, the live policy stays.
        let mut g = guard_of(&names);
        g.apply(verdict(&[1.0, 1.0, 1.0], Some(&[1.02, 1.0, 1.1])), 1000.0);
        assert_eq!(g.active(), "least-slack");
        // Nor is a tied candidate that scores worse than the live policy: the judgement after
        // would move back (jetson-agx-orin, camera-pipeline at 0.95: fifteen switches).
        let mut g = guard_of(&names);
        g.apply(verdict(&[1.0, 1.02, 1.3], Some(&[1.2, 1.0, 1.5])), 1000.0);
        assert_eq!(g.active(), "least-slack");
        // A candidate outside the tie is not chosen by the heavier replay, however good there.
        let mut g = guard_of(&names);
        g.apply(verdict(&[1.0, 1.0, 1.2], Some(&[1.5, 1.3, 1.0])), 1000.0);
        assert_eq!(g.active(), "fastest-only");
        // No tie: the stress loads decide, as without the heavier replay.
        let mut g = guard_of(&names);
        g.apply(verdict(&[1.2, 1.0, 1.1], None), 1000.0);
        assert_eq!(g.active(), "fastest-only");
        let mut g = guard_of(&names);
        g.apply(verdict(&[1.02, 1.0, 1.1], None), 1000.0);
        assert_eq!(g.active(), "least-slack", "within the margin");
    }

    #[test]
    fn a_switch_needs_the_margin_and_any_finite_score_beats_a_collapsed_live_policy() {
        assert!(beats(0.96, 1.0, 0.03));
        assert!(!beats(0.98, 1.0, 0.03));
        assert!(beats(50.0, f64::INFINITY, 0.03));
        assert!(!beats(f64::INFINITY, f64::INFINITY, 0.03));
    }

    fn stream_of(model: u16, per_s: f64, from_ms: f64, to_ms: f64, slo_ms: f64) -> Vec<Seen> {
        let n = ((to_ms - from_ms) * per_s / 1000.0) as u64;
        (0..n)
            .map(|i| Seen {
                id: i,
                arrival_ms: from_ms + i as f64 * 1000.0 / per_s,
                stream: 0,
                model: ModelId(model),
                slo_ms,
                done_ms: f64::INFINITY,
            })
            .collect()
    }

    #[test]
    fn the_busiest_window_is_kept_and_lent_only_to_a_window_calmer_by_the_factor() {
        let mut g = guard_of(&["objective-greedy"]);
        let busy = stream_of(0, 400.0, 0.0, 1000.0, 50.0);
        g.config.peak_factor = None;
        assert!(g.busiest(1000.0, &busy).is_none(), "off");
        assert!(g.peak.is_none(), "off: nothing kept");
        g.config.peak_factor = Some(1.5);
        assert!(
            g.busiest(1000.0, &busy).is_none(),
            "the busiest so far is the recent one"
        );
        let calm = stream_of(0, 100.0, 1000.0, 11_000.0, 50.0);
        let lent = g
            .busiest(11_000.0, &calm)
            .expect("4x calmer: the busy window is replayed too");
        assert_eq!(lent.arrivals.len(), busy.len());
        assert_eq!(lent.at_ms, 1000.0);
        let near = stream_of(0, 300.0, 11_000.0, 21_000.0, 50.0);
        assert!(
            g.busiest(21_000.0, &near).is_none(),
            "within the factor: the stress loads cover it"
        );
        let busier = stream_of(0, 800.0, 21_000.0, 22_000.0, 50.0);
        assert!(g.busiest(22_000.0, &busier).is_none());
        let lent = g.busiest(32_000.0, &calm).expect("the new busiest is lent");
        assert_eq!(lent.arrivals.len(), busier.len());
        g.reset(0);
        assert!(g.peak.is_none(), "a new run forgets the last one's bursts");
    }

    #[test]
    fn a_burst_is_arrivals_well_above_the_stress_loads_after_the_probation() {
        let mut g = guard_of(&["objective-greedy"]);
        // 0.1 arrivals per ms at the last judgement, at 1 s, 100 placed by then.
        g.judged = Some((1000.0, 100, 0.1));
        g.placed = 400;
        g.config.burst_sigma = None;
        assert!(!g.burst(2500.0), "off");
        g.config.burst_sigma = Some(3.0);
        assert!(!g.burst(1900.0), "within the probation");
        // 1.5 s at the largest stress load (1.5x) brings 225, three deviations about 45 more.
        g.placed = 100 + 265;
        assert!(!g.burst(2500.0));
        g.placed = 100 + 275;
        assert!(g.burst(2500.0));
        // A sparse run needs at least 10 arrivals.
        g.judged = Some((1000.0, 100, 0.0));
        g.placed = 109;
        assert!(!g.burst(2500.0));
        g.placed = 110;
        assert!(g.burst(2500.0));
    }

    #[test]
    fn the_busiest_window_ranks_a_policy_that_a_past_burst_sank() {
        let device = DeviceProfile::builtin("jetson-agx-orin").unwrap();
        let candidates = baselines(&device, &["earliest-finish", "fastest-only"]);
        let gpu_ms = device.models[0].on[1]
            .as_ref()
            .expect("model 0 runs on the GPU")
            .mean_ms;
        // A deadline only the GPU meets: in a calm stretch the GPU alone is the placement, and
        // earliest-finish places there too. A past burst a little more than the GPU serves (it
        // runs several at once) sinks the GPU alone; earliest-finish spills to the DLAs.
        let slo_ms = 2.0 * gpu_ms;
        let calm = stream_of(0, 0.2 * 1000.0 / gpu_ms, 10_000.0, 20_000.0, slo_ms);
        let burst = stream_of(0, 6.5 * 1000.0 / gpu_ms, 0.0, 2000.0, slo_ms);
        let config = GuardConfig::default();
        let snapshot = |peak: Option<Arc<Window>>| Snapshot {
            at_ms: 20_000.0,
            in_flight: Vec::new(),
            arrivals: calm.clone(),
            peak,
            device: device.clone(),
        };
        let without = judge(&snapshot(None), &candidates, &config).regret.unwrap();
        let window = Window {
            at_ms: 2000.0,
            arrivals: burst,
        };
        let with = judge(&snapshot(Some(Arc::new(window))), &candidates, &config)
            .regret
            .unwrap();
        assert_eq!(without[0], without[1], "the calm stretch cannot tell them apart");
        assert_eq!(with[0], without[0]);
        assert!(with[1] > 1.2 * without[1], "{with:?} against {without:?}");
    }
}
