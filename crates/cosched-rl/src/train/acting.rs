//! The acting side of a run, shared by both methods: the network as deployed (refreshed from
//! the learner every 50 updates), the random stream, the placement count and the buffers one
//! decision reuses.

use super::config::TrainConfig;
use super::learner::Learner;
use crate::features::PriorForm;
use crate::plain::PlainMlp;
use cosched_core::Outcome;
use rand_chacha::ChaCha8Rng;

/// Updates between two copies of the learner's network into the acting one.
const ACTING_SYNC: u64 = 50;

/// What acts in the simulator while the learner trains.
pub(super) struct Actor {
    /// The rule the network's outputs correct.
    pub form: PriorForm,
    /// The learner's network as deployed, a little behind it.
    pub acting: PlainMlp,
    /// Every random draw of the run after its start (episodes, exploration, minibatches).
    pub rng: ChaCha8Rng,
    /// Placements so far.
    pub step: u64,
    /// The encoded observation.
    pub x: Vec<f32>,
    /// The forward pass's hidden activations.
    pub scratch: Vec<f32>,
    /// The network's outputs.
    pub q: Vec<f32>,
    /// The prior's values.
    pub prior: Vec<f32>,
    /// The outcomes of one step.
    pub outcomes: Vec<Outcome>,
}

impl Actor {
    pub fn new(acting: PlainMlp, form: PriorForm, rng: ChaCha8Rng, inputs: usize, outputs: usize) -> Actor {
        Actor {
            form,
            x: vec![0.0; inputs],
            scratch: vec![0.0; acting.scratch_len()],
            q: vec![0.0; outputs],
            prior: vec![0.0; outputs],
            acting,
            rng,
            step: 0,
            outcomes: Vec::new(),
        }
    }

    /// After an update: acts with the learner's latest weights every [`ACTING_SYNC`] updates.
    pub fn follow(&mut self, learner: &Learner, cfg: &TrainConfig) {
        if learner.updates.is_multiple_of(ACTING_SYNC) {
            self.acting = learner.plain(cfg, self.form);
        }
    }
}

/// What an episode earned: the sum of its requests' (clipped) rewards and its placements.
#[derive(Debug, Clone, Copy, Default)]
pub(super) struct EpisodeReturn {
    pub sum: f64,
    pub placements: usize,
}
