//! A processor's waiting queue in the order a policy asks for ([`QueueOrder`]), shared by the
//! simulator and the real executor so that both take requests in exactly the same order.

use crate::dispatch::Pending;
use crate::ids::ModelId;
use crate::policy::QueueOrder;
use std::cmp::Ordering;
use std::collections::{BinaryHeap, VecDeque};

/// A request a queue can hold: it carries the scheduler's [`Pending`] record of it.
pub trait Queued {
    /// The scheduler's record of the request.
    fn pending(&self) -> &Pending;
    /// The same, to set its estimate when it is placed.
    fn pending_mut(&mut self) -> &mut Pending;
    /// A second copy of the request for a hedge (both then answer through the same reply);
    /// `None` where the request cannot be copied, which places no hedge.
    fn hedge_copy(&mut self) -> Option<Self>
    where
        Self: Sized,
    {
        None
    }
}

impl Queued for Pending {
    fn pending(&self) -> &Pending {
        self
    }
    fn pending_mut(&mut self) -> &mut Pending {
        self
    }
    fn hedge_copy(&mut self) -> Option<Pending> {
        Some(*self)
    }
}

/// A waiting queue: first come first served, or least slack first (Band's LST).
///
/// ```
/// use cosched_core::{ModelId, Pending, PolicyQueue, QueueOrder, StreamId};
/// let mut q = PolicyQueue::new(QueueOrder::LeastSlackFirst);
/// q.push(Pending::new(0, ModelId(0), StreamId(0), 0.0, 50.0));
/// q.push(Pending::new(1, ModelId(0), StreamId(0), 0.0, 10.0));
/// assert_eq!(q.pop().unwrap().id, 1);
/// ```
#[derive(Debug, Clone)]
pub enum PolicyQueue<T> {
    /// First come, first served.
    Fifo(VecDeque<T>),
    /// Least slack first, then arrival order.
    Slack(BinaryHeap<SlackKeyed<T>>),
}

/// A request keyed for the least-slack heap.
#[derive(Debug, Clone)]
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
            .then(other.req.pending().id.cmp(&self.req.pending().id))
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

    /// The order requests are taken in.
    pub fn order(&self) -> QueueOrder {
        match self {
            PolicyQueue::Fifo(_) => QueueOrder::Fifo,
            PolicyQueue::Slack(_) => QueueOrder::LeastSlackFirst,
        }
    }

    /// Take the waiting requests in `order` from now on. A policy may change its order in the
    /// middle of a run (the run-time guard handing the decisions to a candidate that orders its
    /// queues otherwise); first come first served then means by request id, which increases
    /// in arrival order.
    ///
    /// ```
    /// use cosched_core::{ModelId, Pending, PolicyQueue, QueueOrder, StreamId};
    /// let mut q = PolicyQueue::new(QueueOrder::Fifo);
    /// q.push(Pending::new(0, ModelId(0), StreamId(0), 0.0, 50.0));
    /// q.push(Pending::new(1, ModelId(0), StreamId(0), 0.0, 10.0));
    /// q.set_order(QueueOrder::LeastSlackFirst);
    /// assert_eq!(q.peek().unwrap().id, 1);
    /// q.set_order(QueueOrder::Fifo);
    /// assert_eq!(q.pop().unwrap().id, 0);
    /// ```
    pub fn set_order(&mut self, order: QueueOrder) {
        if self.order() == order {
            return;
        }
        let mut waiting = self.drain_all();
        if order == QueueOrder::Fifo {
            waiting.sort_by_key(|r| r.pending().id);
        }
        *self = PolicyQueue::new(order);
        for r in waiting {
            self.push(r);
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
                key: req.pending().slack_key(),
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

    /// The next request to start, left in the queue.
    pub fn peek(&self) -> Option<&T> {
        match self {
            PolicyQueue::Fifo(q) => q.front(),
            PolicyQueue::Slack(q) => q.peek().map(|k| &k.req),
        }
    }

    /// The model of the next request to start.
    pub fn peek_model(&self) -> Option<ModelId> {
        self.peek().map(|r| r.pending().model)
    }

    /// Take the request with this id out, wherever it waits (O(n): for cancelling a hedged
    /// copy, not for the hot path).
    pub fn remove(&mut self, id: u64) -> Option<T> {
        match self {
            PolicyQueue::Fifo(q) => {
                let i = q.iter().position(|r| r.pending().id == id)?;
                q.remove(i)
            }
            PolicyQueue::Slack(q) => {
                // `iter` walks the heap's vector in the order `into_vec` hands it back.
                let i = q.iter().position(|k| k.req.pending().id == id)?;
                let mut v = std::mem::take(q).into_vec();
                let found = v.swap_remove(i);
                *q = BinaryHeap::from(v);
                Some(found.req)
            }
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
