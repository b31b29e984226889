//! The guard's settings.

use cosched_core::ObjectiveWeights;

/// Settings of a [`Guard`](super::Guard).
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
    /// Where the busiest window the run has seen carried more than this many times the work of
    /// the recent one, it is replayed too (from empty queues), and a candidate's ratio to the
    /// best there counts as a growth load, with no `stress_bound`: a burst that came once
    /// comes again (MMPP traffic), and the recent window of a calm stretch forgets it, so that
    /// without it the guard hands a calm stretch to a policy that the next burst sinks
    /// (docs/guard.md). `None`: the busiest window is not kept.
    pub peak_factor: Option<f64>,
    /// Judge at once (no sooner than `probation_ms` after the last judgement) when the arrivals
    /// since the last judgement come faster than the largest stress factor times the rate of
    /// the window it replayed, by more than this many standard deviations of a Poisson count
    /// (and at least 10 arrivals). `None`: by time only.
    pub burst_sigma: Option<f64>,
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
            peak_factor: Some(1.5),
            burst_sigma: Some(3.0),
            weights: ObjectiveWeights::BALANCED,
            background: false,
            seed: 0x6a41,
        }
    }
}
