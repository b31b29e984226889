//! The replay buffer of Double DQN, and the placements of an episode waiting for their
//! requests' outcomes before they enter it.

use crate::ring::Ring;

pub(super) struct Replay {
    pub(super) inputs: usize,
    pub(super) actions: usize,
    pub(super) ring: Ring,
    pub(super) obs: Vec<f32>,
    pub(super) next_obs: Vec<f32>,
    // The prior's values (one per action) of `obs` and `next_obs`: the prior is computed from
    // the unclipped observation, which the encoded vector does not hold.
    pub(super) prior: Vec<f32>,
    pub(super) next_prior: Vec<f32>,
    pub(super) action: Vec<u16>,
    pub(super) reward: Vec<f32>,
    pub(super) done: Vec<bool>,
}

impl Replay {
    pub(super) fn new(inputs: usize, actions: usize, cap: usize) -> Replay {
        Replay {
            inputs,
            actions,
            ring: Ring::new(cap),
            obs: vec![0.0; inputs * cap],
            next_obs: vec![0.0; inputs * cap],
            prior: vec![0.0; actions * cap],
            next_prior: vec![0.0; actions * cap],
            action: vec![0; cap],
            reward: vec![0.0; cap],
            done: vec![false; cap],
        }
    }

    pub(super) fn push(&mut self, now: &Pending, reward: f32, next: Option<&Pending>) {
        let i = self.ring.push();
        let (n, k) = (self.inputs, self.actions);
        self.obs[i * n..(i + 1) * n].copy_from_slice(&now.obs);
        self.prior[i * k..(i + 1) * k].copy_from_slice(&now.prior);
        match next {
            Some(p) => {
                self.next_obs[i * n..(i + 1) * n].copy_from_slice(&p.obs);
                self.next_prior[i * k..(i + 1) * k].copy_from_slice(&p.prior);
            }
            None => {
                self.next_obs[i * n..(i + 1) * n].fill(0.0);
                self.next_prior[i * k..(i + 1) * k].fill(0.0);
            }
        }
        let action = now.action;
        self.action[i] = action;
        self.reward[i] = reward;
        self.done[i] = next.is_none();
    }
}

/// A placement waiting for its request's outcome.
pub(super) struct Pending {
    pub(super) obs: Vec<f32>,
    pub(super) prior: Vec<f32>,
    pub(super) action: u16,
    pub(super) reward: Option<f32>,
}
