//! A processor's waiting queue in the order a policy asks for ([`QueueOrder`]), shared by the
//! simulator and the real executor so that both take requests in exactly the same order.

use crate::ids::ModelId;
use crate::policy::QueueOrder;
use std::cmp::Ordering;
use std::collections::{BinaryHeap, VecDeque};

/// What a queue needs to know of a waiting request.
pub trait Queued {
    /// Unique, increasing in arrival order: breaks ties so the order is deterministic.
    fn seq(&self) -> u64;
    /// Its model (consecutive same-model requests can be batched).
    fn model(&self) -> ModelId;
    /// Least-slack key: deadline minus the estimated service time, ms.
    fn slack_key(&self) -> f64;
}

/// A waiting queue: first come first served, or least slack first (Band's LST).
///
/// ```
/// use cosched_core::{ModelId, PolicyQueue, QueueOrder, Queued};
/// #[derive(Debug)]
/// struct R(u64, f64);
/// impl Queued for R {
///     fn seq(&self) -> u64 { self.0 }
///     fn model(&self) -> ModelId { ModelId(0) }
///     fn slack_key(&self) -> f64 { self.1 }
/// }
/// let mut q = PolicyQueue::new(QueueOrder::LeastSlackFirst);
/// q.push(R(0, 50.0));
/// q.push(R(1, 10.0));
/// assert_eq!(q.pop().unwrap().0, 1);
/// ```
#[derive(Debug)]
pub enum PolicyQueue<T> {
    /// First come, first served.
    Fifo(VecDeque<T>),
    /// Least slack first, then arrival order.
    Slack(BinaryHeap<SlackKeyed<T>>),
}

/// A request keyed for the least-slack heap.
#[derive(Debug)]
pub struct SlackKeyed<T> {
    key: f64,
    req: T,
}

impl<T: Queued> PartialEq for SlackKeyed<T> {
    fn eq(&self, other: &Self) -> bool {
        self.cmp(other) == Ordering::Equal
    }
}
impl<T: Queued> Eq for SlackKeyed<T> {}
impl<T: Queued> PartialOrd for SlackKeyed<T> {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}
impl<T: Queued> Ord for SlackKeyed<T> {
    fn cmp(&self, other: &Self) -> Ordering {
        // BinaryHeap is a max-heap: reverse so the least slack pops first.
        other
            .key
            .total_cmp(&self.key)
            .then(other.req.seq().cmp(&self.req.seq()))
    }
}

impl<T: Queued> PolicyQueue<T> {
    /// An empty queue in `order`.
    pub fn new(order: QueueOrder) -> Self {
        match order {
            QueueOrder::Fifo => PolicyQueue::Fifo(VecDeque::new()),
            QueueOrder::LeastSlackFirst => PolicyQueue::Slack(BinaryHeap::new()),
        }
    }

    /// Requests waiting.
    pub fn len(&self) -> usize {
        match self {
            PolicyQueue::Fifo(q) => q.len(),
            PolicyQueue::Slack(q) => q.len(),
        }
    }

    /// Whether nothing waits.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Enqueue a request.
    pub fn push(&mut self, req: T) {
        match self {
            PolicyQueue::Fifo(q) => q.push_back(req),
            PolicyQueue::Slack(q) => q.push(SlackKeyed {
                key: req.slack_key(),
                req,
            }),
        }
    }

    /// The next request to start.
    pub fn pop(&mut self) -> Option<T> {
        match self {
            PolicyQueue::Fifo(q) => q.pop_front(),
            PolicyQueue::Slack(q) => q.pop().map(|k| k.req),
        }
    }

    /// The model of the next request to start.
    pub fn peek_model(&self) -> Option<ModelId> {
        match self {
            PolicyQueue::Fifo(q) => q.front().map(Queued::model),
            PolicyQueue::Slack(q) => q.peek().map(|k| k.req.model()),
        }
    }

    /// Take every waiting request out (in no particular order).
    pub fn drain_all(&mut self) -> Vec<T> {
        match self {
            PolicyQueue::Fifo(q) => q.drain(..).collect(),
            PolicyQueue::Slack(q) => std::mem::take(q).into_vec().into_iter().map(|k| k.req).collect(),
        }
    }
}
