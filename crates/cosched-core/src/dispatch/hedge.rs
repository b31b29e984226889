//! Hedged copies (MDInference): a request placed on two processors, answered by the first to
//! finish; the other copy is cancelled if it is still queued and discarded when it ends if it
//! had started. The request counts once in every metric.

use super::Dispatcher;
use crate::action_stats::HedgeCounts;
use crate::queue::Queued;

/// A hedged request in flight.
#[derive(Debug, Clone, Copy)]
pub(super) struct Hedge {
    /// Processor of the original, and of the copy.
    on: [usize; 2],
    /// One of the two has answered.
    answered: bool,
}

impl Hedge {
    pub(super) fn new(original: usize, copy: usize) -> Hedge {
        Hedge {
            on: [original, copy],
            answered: false,
        }
    }
}

/// What to do with a hedged request whose copy on some processor just finished.
#[derive(Debug)]
pub enum Claim<R> {
    /// Not (or no longer) hedged: an ordinary completion.
    Alone,
    /// This copy answers. The other was still queued and is handed back, out of its queue, to
    /// be dropped without an answer (`None`: it is running and will be [`Claim::Lost`]).
    Won(Option<R>),
    /// The other copy answered already: discard this one, no outcome, no answer.
    Lost,
}

impl<R: Queued> Dispatcher<R> {
    /// Settle the copy of hedged request `id` that finished on `p` (call only for requests
    /// whose [`Pending::hedged`](crate::Pending::hedged) is set).
    pub fn claim(&mut self, id: u64, p: usize) -> Claim<R> {
        let Some(h) = self.hedges.get_mut(&id) else {
            return Claim::Alone;
        };
        if h.answered {
            self.hedges.remove(&id);
            self.hedge_counts.wasted += 1;
            return Claim::Lost;
        }
        h.answered = true;
        let (copy_answers, twin) = if p == h.on[1] {
            (true, h.on[0])
        } else {
            (false, h.on[1])
        };
        if copy_answers {
            self.hedge_counts.won += 1;
        }
        let waiting = match self.deferred.iter().position(|d| d.2.pending().id == id) {
            Some(i) => Some(self.deferred.swap_remove(i).2),
            None => self.lanes[twin].remove(id),
        };
        match waiting {
            Some(r) => {
                self.hedges.remove(&id);
                self.hedge_counts.cancelled += 1;
                Claim::Won(Some(r))
            }
            None => Claim::Won(None),
        }
    }

    /// A copy of hedged request `id` will never answer (it failed, or the run ended with it
    /// still waiting): true when the request is still to be accounted for by the caller, false
    /// when the other copy answers or answered for it.
    pub fn abandon(&mut self, id: u64) -> bool {
        match self.hedges.remove(&id) {
            None => true,
            Some(h) => {
                if h.answered {
                    self.hedge_counts.wasted += 1;
                }
                false
            }
        }
    }

    /// Take out every hedged copy still waiting for its delay (the end of a run): each is
    /// given up ([`Dispatcher::abandon`]) and handed back to be dropped without an answer.
    pub fn drain_deferred(&mut self) -> Vec<R> {
        let copies: Vec<R> = self.deferred.drain(..).map(|d| d.2).collect();
        for c in &copies {
            let id = c.pending().id;
            if self.hedges.remove(&id).is_some() {
                self.hedge_counts.cancelled += 1;
            }
        }
        copies
    }

    /// Hedged copies so far.
    pub fn hedge_counts(&self) -> HedgeCounts {
        self.hedge_counts
    }
}
