//! The one thing the dispatcher asks of its world: run a batch.

/// A batch the dispatcher has formed and charged to a slot, for the host to run.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Start {
    /// Processor index.
    pub processor: usize,
    /// Slot index on that processor.
    pub slot: usize,
    /// When it starts, ms (virtual in the simulator, since the executor's epoch in real runs).
    pub now_ms: f64,
    /// Other processors busy as it starts (what memory interference depends on).
    pub others_busy: u32,
    /// Whether the processor was idle until now: the simulator re-rates the inferences running
    /// elsewhere, which now share memory with one more processor.
    pub newly_busy: bool,
    /// Processors busy, this one included.
    pub busy_processors: u32,
    /// The processor's frequency scale (1 at its highest level).
    pub freq_scale: f64,
}

/// Where batches run: the simulator's event queue, or the executor's worker threads.
pub trait Host<R> {
    /// Run `batch` as `start` says. A host that cannot (the worker is gone) hands the batch
    /// back; the dispatcher then takes the slot down and queues the batch again.
    fn start(&mut self, start: Start, batch: Vec<R>) -> Result<(), Vec<R>>;

    /// Call [`Dispatcher::try_start`](super::Dispatcher::try_start) for `processor` at
    /// `at_ms` (or as soon after as the host can): a free slot is holding a batch open until
    /// then. Asking again for the same time is harmless.
    fn wake_at(&mut self, processor: usize, at_ms: f64);

    /// An empty vector for the next batch of slot `slot` of processor `processor`: the
    /// simulator hands back the slot's last one, so that forming a batch does not allocate.
    fn batch_buffer(&mut self, processor: usize, slot: usize) -> Vec<R> {
        let _ = (processor, slot);
        Vec::new()
    }
}
