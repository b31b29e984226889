//! Policies that wrap another one and only add to its actions (batching and hedging rules)
//! hand everything else to it: what they learn, their queue order, their resets and switches.

/// The [`Policy`](crate::Policy) methods of a wrapper with an `inner: Box<dyn Policy>` field,
/// delegated to it (everything but `name` and `decide`); `|this| { .. }` also runs on reset,
/// for a wrapper with state of its own.
macro_rules! delegate_to_inner {
    () => {
        $crate::wrapper::delegate_to_inner!(|_this| {});
    };
    (|$this:ident| $on_reset:block) => {
        fn reset(&mut self, seed: u64) {
            self.inner.reset(seed);
            let $this = self;
            $on_reset
        }

        fn observe(&mut self, outcome: &$crate::Outcome) {
            self.inner.observe(outcome);
        }

        fn queue_order(&self) -> $crate::QueueOrder {
            self.inner.queue_order()
        }

        fn switches(&self) -> &[$crate::PolicySwitch] {
            self.inner.switches()
        }
    };
}

pub(crate) use delegate_to_inner;
