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
//! run has placed `first_arrivals` requests) and again soon after a switch (`probation_ms`),
//! because a wrong choice costs most while queues grow. It runs inline in the simulator
//! (virtual time: deterministic runs) and on a background thread in real runs (off the dispatch
//! path: a decision only reads the verdict).

mod closed_loop;

use crate::{simulate, SimConfig};
use closed_loop::{closed_loops, Span};
use cosched_core::{
    Action, Arrival, DeviceProfile, ModelId, ObjectiveWeights, Observation, Outcome, Policy, PolicySwitch, QueueOrder,
    RequestId, Slo, Stream, Workload,
};
use crossbeam_channel::{Receiver, Sender, TrySendError};
use std::collections::{BTreeMap, HashMap, VecDeque};
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

/// Settings of a [`Guard`].
#[derive(Debug, Clone)]
pub struct GuardConfig {
    /// Time between two judgements, ms.
    pub period_ms: f64,
    /// Time of the first judgement, ms: the policy a run starts with is judged early, on
    /// little history, because a wrong start costs a whole `period` of growing queues.
    pub first_ms: f64,
    /// A run that has placed this many requests before `first_ms` is also judged then, and
    /// again at `first_ms`: what a wrong start costs grows with the decisions made under it,
    /// not with the time (a trace at 1,800 requests/s places 1,800 before the first second).
    /// `None`: only by time.
    pub first_arrivals: Option<u32>,
    /// After a switch, the next judgement comes this soon (ms), so that a switch made on a
    /// calm stretch is undone before the queues it lets grow cost the rest of the run.
    pub probation_ms: f64,
    /// A replay spans at least this long (ms): the recent window is repeated until it does,
    /// so that a judgement made on a short history still shows where a queue is heading.
    pub horizon_ms: f64,
    /// How much of the recent past is replayed, ms.
    pub window_ms: f64,
    /// A candidate takes over only when its regret is this fraction below the live
    /// policy's.
    pub margin: f64,
    /// The recent arrivals are replayed this many times back to back: a forecast that the
    /// traffic goes on as it was, long enough for a policy that lets queues grow to pay for it
    /// (one window from empty queues favoured exactly those policies under overload).
    pub repeats: u32,
    /// Each replay is also run with its arrivals this many times faster, and a candidate's
    /// ratio to the best candidate at these growth loads counts in its score (see
    /// `growth_weight`): a policy that is best at the recent load but collapses when traffic
    /// grows a little (as the GPU-only placement does) is not chosen on a calm stretch. The
    /// smallest factor is the recent load. A factor just above 1
    /// tells the policies that are only marginally stable at the recent load, whose backlog
    /// grows too slowly for a 10 s replay at that load to show it, from those that keep up.
    pub stress: Vec<f64>,
    /// A stress load counts only where its best candidate's objective is at most this many
    /// times the best at the smallest stress factor. A load that no candidate serves ranks the
    /// policies by how they fail, and a steady load near saturation (cameras at a fixed frame
    /// rate) would otherwise go to whichever fails least at a growth that never comes, over
    /// the placement that is best at the load there is (docs/guard.md).
    pub stress_bound: Option<f64>,
    /// How the growth loads (the stress factors above the smallest) weigh against the recent
    /// load. `None`: a candidate scores its worst ratio over all of them (minimax regret).
    /// `Some(w)`: its ratio at the recent load times its worst ratio over the growth loads to
    /// the power `w`, so that a growth that may not come costs less than a loss at the load
    /// there is.
    pub growth_weight: Option<f64>,
    /// A candidate's score is its worst regret over this many recent judgements, so that a
    /// policy that collapsed in the last burst is not trusted again in the next calm stretch
    /// (3 did no better than 1 on the validation scenarios, see docs/guard.md).
    pub memory: u32,
    /// Where several candidates score within `margin` of the best (a calm stretch: every
    /// sensible placement does the same), the replay is also run this many times faster, and
    /// among the tied candidates that score no worse than the live policy, the one that copes
    /// best with it takes over if it beats the live policy there by `margin`.
    pub tie_stress: Option<f64>,
    /// The objective the replays are scored on.
    pub weights: ObjectiveWeights,
    /// Judge on a background thread (real runs) instead of inline (the simulator).
    pub background: bool,
    /// Seed of the replays' service times.
    pub seed: u64,
}

impl Default for GuardConfig {
    fn default() -> Self {
        GuardConfig {
            period_ms: 5_000.0,
            first_ms: 1_000.0,
            first_arrivals: Some(256),
            probation_ms: 1_000.0,
            horizon_ms: 10_000.0,
            window_ms: 10_000.0,
            margin: 0.03,
            repeats: 2,
            stress: vec![1.0, 1.1, 1.5],
            stress_bound: Some(2.0),
            growth_weight: Some(0.5),
            memory: 1,
            tie_stress: Some(3.0),
            weights: ObjectiveWeights::BALANCED,
            background: false,
            seed: 0x6a41,
        }
    }
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

/// How far the board is from its profile, per model and processor, smoothed, to correct the
/// profile the replays run on.
///
/// It keeps the ratio of each measured service time to what the profile predicts for that run
/// (`Outcome::expected_service_ms`: batch, frequency and memory interference included), not the
/// service time itself: the replay applies interference and frequency again, so a replay on raw
/// measurements would count the live policy's own contention twice, and make the processors it
/// uses look slower than the ones it leaves idle (on the validation scenarios that bias cost the
/// guard more than the correction gained, docs/guard.md).
#[derive(Debug, Clone)]
struct Measured {
    n_proc: usize,
    /// (samples, smoothed ratio of measured to predicted service time).
    per_pair: Vec<(u32, f64)>,
}

impl Measured {
    /// Pairs with fewer samples keep the profile's figure.
    const MIN_SAMPLES: u32 = 10;
    const ALPHA: f64 = 0.05;

    fn new(device: &DeviceProfile) -> Measured {
        let n_proc = device.processors.len();
        Measured {
            n_proc,
            per_pair: vec![(0, 0.0); n_proc * device.models.len()],
        }
    }

    fn record(&mut self, o: &Outcome) {
        let Some(e) = self
            .per_pair
            .get_mut(o.model.index() * self.n_proc + o.processor.index())
        else {
            return;
        };
        let x = o.service_ms / o.expected_service_ms;
        if !x.is_finite() || x <= 0.0 {
            return;
        }
        *e = if e.0 == 0 {
            (1, x)
        } else {
            (e.0.saturating_add(1), e.1 + Self::ALPHA * (x - e.1))
        };
    }

    /// The profile with every well-measured latency scaled by its measured ratio.
    fn corrected(&self, device: &DeviceProfile) -> DeviceProfile {
        let mut d = device.clone();
        for (m, model) in d.models.iter_mut().enumerate() {
            for (p, on) in model.on.iter_mut().enumerate() {
                let (n, ratio) = self.per_pair[m * self.n_proc + p];
                if let Some(on) = on.as_mut().filter(|_| n >= Self::MIN_SAMPLES) {
                    on.mean_ms = (on.mean_ms * ratio).max(1e-3);
                }
            }
        }
        d
    }
}

/// What a judgement needs, copied so that it can run elsewhere.
struct Snapshot {
    at_ms: f64,
    /// Requests decided but not finished: the queues as they are, replayed first.
    in_flight: Vec<Seen>,
    arrivals: Vec<Seen>,
    device: DeviceProfile,
}

/// Every candidate's regret on the replays (same order as the candidates: its worst ratio to the
/// best candidate over the stress loads); `None` when there was nothing to replay.
struct Verdict {
    at_ms: f64,
    regret: Option<Vec<f64>>,
    /// Where several candidates tied, each one's ratio to the best on the replay at
    /// [`GuardConfig::tie_stress`].
    tie: Option<Vec<f64>>,
}

/// One stream of a replay: its deadline and its `(time ms, model name)` events.
type ReplayStream = (f64, Vec<(f64, String)>);

/// A closed loop of the recent past, as the replay runs it.
struct ClosedStream {
    model: ModelId,
    slo_ms: f64,
    concurrency: u32,
}

/// The closed-loop streams of the snapshot (see [`closed_loop`]); a stream of several models
/// or deadlines stays a trace, since a replayed closed loop has one of each.
fn closed_loop_streams(s: &Snapshot) -> BTreeMap<u16, ClosedStream> {
    let spans: Vec<Span> = s
        .arrivals
        .iter()
        .map(|a| Span {
            stream: a.stream,
            arrival_ms: a.arrival_ms,
            done_ms: a.done_ms,
        })
        .collect();
    closed_loops(&spans)
        .into_iter()
        .filter_map(|(stream, concurrency)| {
            let mut of_stream = s.arrivals.iter().filter(|a| a.stream == stream);
            let first = of_stream.next()?;
            of_stream
                .all(|a| a.model == first.model && a.slo_ms == first.slo_ms)
                .then_some((
                    stream,
                    ClosedStream {
                        model: first.model,
                        slo_ms: first.slo_ms,
                        concurrency,
                    },
                ))
        })
        .collect()
}

/// Replay `s` under every candidate.
fn judge(s: &Snapshot, candidates: &[Candidate], config: &GuardConfig) -> Verdict {
    let none = Verdict {
        at_ms: s.at_ms,
        regret: None,
        tie: None,
    };
    let Some(t0) = s.arrivals.first().map(|a| a.arrival_ms) else {
        return none;
    };
    // One trace stream per (stream, model): a trace stream has one deadline rule.
    let span_ms = (s.at_ms - t0).max(1e-3);
    let repeats = config
        .repeats
        .max(1)
        .max((config.horizon_ms / span_ms).ceil().min(1000.0) as u32);
    let sim = SimConfig {
        weights: config.weights,
        ..SimConfig::with_seed(config.seed)
    };
    let stress: &[f64] = if config.stress.is_empty() {
        &[1.0]
    } else {
        &config.stress
    };
    // Closed loops are replayed as closed loops (their pace depends on the policy), the rest
    // as the traces they were.
    let closed = closed_loop_streams(s);
    // The replay at the recent load, grouped once; each stress factor only rescales its times.
    let mut groups: BTreeMap<(u16, u16), ReplayStream> = BTreeMap::new();
    for a in s.in_flight.iter().filter(|a| !closed.contains_key(&a.stream)) {
        let g = groups.entry((a.stream, a.model.0)).or_insert((a.slo_ms, Vec::new()));
        g.1.push((0.0, s.device.models[a.model.index()].name.clone()));
    }
    for k in 0..repeats {
        for a in s.arrivals.iter().filter(|a| !closed.contains_key(&a.stream)) {
            let g = groups.entry((a.stream, a.model.0)).or_insert((a.slo_ms, Vec::new()));
            let t = a.arrival_ms - t0 + f64::from(k) * span_ms;
            g.1.push((t, s.device.models[a.model.index()].name.clone()));
        }
    }
    // The objective of every candidate on the replay with its arrivals `f` times as fast.
    let replay = |f: f64| -> Option<(f64, Vec<f64>)> {
        let f = f.max(1e-3);
        let streams = groups
            .iter()
            .map(|((stream, model), (slo_ms, events))| Stream {
                name: format!("s{stream}m{model}"),
                model: None,
                arrival: Arrival::Trace {
                    file: "replay".into(),
                    events: Arc::new(events.iter().map(|(t, m)| (t / f, m.clone())).collect()),
                },
                slo: Slo::Ms(*slo_ms),
            })
            .chain(closed.iter().map(|(stream, c)| Stream {
                name: format!("s{stream}-closed"),
                model: Some(s.device.models[c.model.index()].name.clone()),
                arrival: Arrival::Closed {
                    concurrency: c.concurrency,
                },
                slo: Slo::Ms(c.slo_ms),
            }))
            .collect();
        let w = Workload {
            name: "guard-replay".into(),
            description: String::new(),
            duration_s: span_ms * f64::from(repeats) / f / 1000.0,
            load: None,
            streams,
        };
        let w = w.resolve(&s.device, None, "guard replay").ok()?;
        let objectives: Vec<f64> = candidates
            .iter()
            .map(|c| {
                let mut p = (c.make)();
                simulate(&s.device, &w, p.as_mut(), &sim).objective
            })
            .collect();
        let best = objectives
            .iter()
            .copied()
            .filter(|o| o.is_finite())
            .fold(f64::INFINITY, f64::min);
        (best.is_finite() && best > 0.0).then(|| {
            let ratios = objectives
                .iter()
                .map(|o| if o.is_finite() { o / best } else { f64::INFINITY })
                .collect();
            (best, ratios)
        })
    };
    let mut replays = Vec::with_capacity(stress.len());
    for &f in stress {
        let Some((best, ratios)) = replay(f) else { return none };
        replays.push((f, best, ratios));
    }
    // The recent load is the smallest factor; its best objective is the yardstick of the others.
    let (calm_factor, calm_best) = replays
        .iter()
        .min_by(|a, b| a.0.total_cmp(&b.0))
        .map_or((f64::INFINITY, f64::INFINITY), |r| (r.0, r.1));
    // recent[c], growth[c]: candidate c's worst ratio to the best candidate at the recent load
    // and over the growth loads that some candidate still serves.
    let mut recent = vec![1.0f64; candidates.len()];
    let mut growth = vec![1.0f64; candidates.len()];
    for (f, best, ratios) in &replays {
        let counts = config.stress_bound.is_none_or(|b| *best <= b * calm_best);
        tracing::trace!(
            at_s = s.at_ms / 1000.0,
            stress = f,
            best,
            counts,
            ?ratios,
            "guard replay"
        );
        if counts {
            let worst = if *f <= calm_factor { &mut recent } else { &mut growth };
            for (r, o) in worst.iter_mut().zip(ratios) {
                *r = r.max(*o);
            }
        }
    }
    let regret: Vec<f64> = recent
        .iter()
        .zip(&growth)
        .map(|(&r, &g)| score(r, g, config.growth_weight))
        .collect();
    // Only where the stress loads cannot tell the live policy from the best candidate.
    let tie = config
        .tie_stress
        .filter(|_| tied(&regret, config.margin))
        .and_then(replay)
        .map(|(_, ratios)| ratios);
    Verdict {
        at_ms: s.at_ms,
        regret: Some(regret),
        tie,
    }
}

/// A candidate's score from its ratio to the best candidate at the recent load and its worst
/// ratio over the growth loads (see [`GuardConfig::growth_weight`]).
fn score(recent: f64, growth: f64, growth_weight: Option<f64>) -> f64 {
    match growth_weight {
        None => recent.max(growth),
        Some(w) => recent * growth.powf(w),
    }
}

/// Whether more than one candidate scores within `margin` of the best: a calm stretch where
/// every sensible placement does the same.
fn tied(regret: &[f64], margin: f64) -> bool {
    let best = regret.iter().copied().fold(f64::INFINITY, f64::min);
    regret.iter().filter(|&&r| within(r, best, margin)).count() > 1
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

    /// The name of candidate `i` (0: the guarded policy).
    ///
    /// # Panics
    /// When there is no such candidate.
    pub fn candidate_name(&self, i: usize) -> &str {
        &self.candidates[i].name
    }

    /// The candidate deciding now.
    pub fn active(&self) -> &str {
        &self.candidates[self.active].name
    }

    fn snapshot(&self, now_ms: f64) -> Snapshot {
        Snapshot {
            at_ms: now_ms,
            in_flight: self.in_flight.values().copied().collect(),
            arrivals: self
                .recent
                .iter()
                .map(|a| Seen {
                    done_ms: self.done.get(&a.id).copied().unwrap_or(f64::INFINITY),
                    ..*a
                })
                .collect(),
            device: self.measured.corrected(&self.device),
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
        if early || now >= self.next_judgement_ms {
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
    use cosched_core::StreamId;

    fn outcome(model: u16, processor: u16, service_ms: f64, expected_service_ms: f64) -> Outcome {
        Outcome {
            request: RequestId(0),
            model: ModelId(model),
            stream: StreamId(0),
            processor: cosched_core::ProcessorId(processor),
            latency_ms: service_ms,
            slo_ms: 100.0,
            energy_j: 0.1,
            service_ms,
            batch: 1,
            expected_service_ms,
            reference_energy_j: 0.1,
            violated: false,
        }
    }

    fn guard_of(names: &[&'static str]) -> Guard {
        let device = DeviceProfile::builtin("jetson-agx-orin").unwrap();
        let candidates = names
            .iter()
            .map(|&name| {
                let d = device.clone();
                Candidate {
                    name: name.into(),
                    make: Arc::new(move || cosched_core::baseline(name, &d, Default::default()).unwrap()),
                }
            })
            .collect();
        Guard::new(&device, candidates, GuardConfig::default())
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

    #[test]
    fn a_growth_that_may_not_come_weighs_less_than_the_load_there_is() {
        let w = GuardConfig::default().growth_weight;
        // Best at the recent load, 1.3x the best if traffic grew by half, against 1.2x worse
        // now and best under growth (android-flagship, validation scenario 26 at 0.5).
        assert!(score(1.0, 1.31, w) < score(1.2, 1.12, w));
        // Minimax regret would keep paying the sure 20 % as insurance.
        assert!(score(1.0, 1.31, None) > score(1.2, 1.12, None));
        // A placement that collapses when traffic grows still loses to one a little worse now.
        assert!(score(1.0, 39.0, w) > score(1.05, 1.0, w));
        assert!(score(1.0, 1.6, w) > score(1.1, 1.0, w));
        assert_eq!(score(1.0, f64::INFINITY, w), f64::INFINITY);
    }

    #[test]
    fn only_a_tie_runs_the_heavier_replay() {
        assert!(tied(&[1.0, 1.02, 1.5], 0.03));
        assert!(!tied(&[1.0, 1.05, 1.5], 0.03));
        assert!(!tied(&[1.0], 0.03));
        // Relative to the best score, as the switch reads it: no candidate need be best at
        // every stress load, so the best regret may be above 1.
        assert!(tied(&[1.2, 1.23, 1.5], 0.03));
        assert!(!tied(&[1.2, 1.25, 1.5], 0.03));
    }

    #[test]
    fn the_correction_scales_the_profile_by_the_measured_ratio_once_well_measured() {
        let device = DeviceProfile::builtin("jetson-agx-orin").unwrap();
        let (m, p) = (0usize, 1usize);
        let profile_ms = device.models[m].on[p]
            .as_ref()
            .expect("model 0 runs on the GPU")
            .mean_ms;
        let mut measured = Measured::new(&device);
        // Measured 1.2x what the profile predicted for those runs, whatever their contention.
        for i in 0..Measured::MIN_SAMPLES {
            let expected = 10.0 + f64::from(i);
            measured.record(&outcome(m as u16, p as u16, 1.2 * expected, expected));
            let d = measured.corrected(&device);
            let got = d.models[m].on[p].as_ref().unwrap().mean_ms;
            if i + 1 < Measured::MIN_SAMPLES {
                assert_eq!(got, profile_ms, "too few samples: the profile stands");
            } else {
                assert!((got / profile_ms - 1.2).abs() < 1e-9, "{got} vs {profile_ms}");
            }
        }
        // A request that never ran says nothing about speed.
        let before = measured.per_pair.clone();
        measured.record(&outcome(m as u16, p as u16, 0.0, 0.0));
        assert_eq!(measured.per_pair, before);
        // The other pairs keep the profile's figure.
        let d = measured.corrected(&device);
        assert_eq!(d.models[1].on[p], device.models[1].on[p]);
    }
}
