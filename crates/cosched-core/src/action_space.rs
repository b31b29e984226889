//! What a policy may choose, as a policy file states it: the processor (one output of the
//! network per processor, in this order), and the rules that may size its batches and hedge its
//! requests.
//!
//! The choice has two stages. A policy picks the processor for each request; the batch rule and
//! the hedging rule are picked for the workload by the run-time guard, which replays the recent
//! past under the policy with each rule of the space and keeps the best (docs/design.md, "The
//! action"). A batch size or a copy pays or costs over many requests (a batch held open delays
//! the requests that fill it; a copy takes a slot that later requests needed), which a replay
//! measures and a per-request value estimate would have to learn from delayed credit.

use crate::device::DeviceProfile;
use serde::{Deserialize, Serialize};

/// How the batches of the policy's placements are sized.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum BatchRule {
    /// Whatever same-model requests are queued behind the head, up to `max_batch`, no wait.
    Greedy,
    /// Kum et al.'s rule ([`crate::batching::KumBatching`]).
    Kum,
    /// Triton's dynamic batcher ([`crate::batching::DynamicBatching`]).
    DynamicBatch,
}

/// How the policy's requests are hedged.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum HedgeRule {
    /// No copies.
    None,
    /// Backup copies for the slow tail ([`crate::hedging::TailHedging`]).
    Tail,
}

/// The action space of a policy.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ActionSpace {
    /// Processor ids, in action order.
    pub processors: Vec<String>,
    /// Batch rules the guard may run the policy with; the first is the policy's own.
    pub batch: Vec<BatchRule>,
    /// Hedging rules the guard may run the policy with; the first is the policy's own.
    pub hedge: Vec<HedgeRule>,
}

impl ActionSpace {
    /// The space a policy for `device` chooses over: every processor; Kum's rule and the
    /// dynamic batcher where a processor batches; tail hedging where a processor stalls (a
    /// lognormal tail alone is too light for a copy to pay, docs/batching-hedging.md).
    pub fn for_device(device: &DeviceProfile) -> ActionSpace {
        let mut batch = vec![BatchRule::Greedy];
        if device.processors.iter().any(|p| p.max_batch > 1) {
            batch.extend([BatchRule::Kum, BatchRule::DynamicBatch]);
        }
        let mut hedge = vec![HedgeRule::None];
        if device.processors.iter().any(|p| p.stall.is_some_and(|s| s.stalls())) {
            hedge.push(HedgeRule::Tail);
        }
        ActionSpace {
            processors: device.processors.iter().map(|p| p.id.clone()).collect(),
            batch,
            hedge,
        }
    }

    /// The rules besides the policy's own, each to be replayed alone.
    pub fn alternatives(&self) -> impl Iterator<Item = Alternative> + '_ {
        let batch = self.batch.iter().skip(1).map(|&b| Alternative::Batch(b));
        batch.chain(self.hedge.iter().skip(1).map(|&h| Alternative::Hedge(h)))
    }
}

/// One rule of a space other than the policy's own.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Alternative {
    /// Batches sized by this rule.
    Batch(BatchRule),
    /// Requests hedged by this rule.
    Hedge(HedgeRule),
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_space_offers_only_what_the_board_can_use() {
        let agx = DeviceProfile::builtin("jetson-agx-orin").unwrap();
        let s = ActionSpace::for_device(&agx);
        assert_eq!(s.processors.len(), agx.processors.len());
        let batches = agx.processors.iter().any(|p| p.max_batch > 1);
        assert_eq!(s.batch.len(), if batches { 3 } else { 1 });
        assert_eq!(s.hedge, vec![HedgeRule::None], "no shipped board stalls");
        let mut stalling = agx.clone();
        stalling.processors[0].stall = Some(crate::Stall {
            probability: 0.02,
            factor: 5.0,
        });
        let s = ActionSpace::for_device(&stalling);
        assert_eq!(s.hedge, vec![HedgeRule::None, HedgeRule::Tail]);
        assert_eq!(s.alternatives().last(), Some(Alternative::Hedge(HedgeRule::Tail)));
        assert_eq!(s.alternatives().count(), s.batch.len());
    }

    #[test]
    fn it_reads_back_as_written() {
        let s = ActionSpace {
            processors: vec!["gpu".into(), "dla0".into()],
            batch: vec![BatchRule::Greedy, BatchRule::Kum, BatchRule::DynamicBatch],
            hedge: vec![HedgeRule::None, HedgeRule::Tail],
        };
        let text = toml::to_string(&s).unwrap();
        assert!(text.contains("\"dynamic-batch\""), "{text}");
        assert_eq!(toml::from_str::<ActionSpace>(&text).unwrap(), s);
    }
}
