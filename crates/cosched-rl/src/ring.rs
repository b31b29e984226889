//! The slot bookkeeping of a fixed-capacity ring buffer, shared by DQN's replay and the rules
//! method's samples: once full, the oldest item is overwritten.

/// Where the next item goes and how many are held.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Ring {
    cap: usize,
    len: usize,
    next: usize,
}

impl Ring {
    /// An empty ring of `cap` slots (at least one).
    pub(crate) fn new(cap: usize) -> Ring {
        Ring {
            cap: cap.max(1),
            len: 0,
            next: 0,
        }
    }

    /// Items held.
    pub(crate) fn len(&self) -> usize {
        self.len
    }

    /// The slot of a new item (the oldest one's once full), and the ring moves past it.
    pub(crate) fn push(&mut self) -> usize {
        let i = self.next;
        self.next = (i + 1) % self.cap;
        self.len = (self.len + 1).min(self.cap);
        i
    }
}

#[cfg(test)]
mod tests {
    use super::Ring;

    #[test]
    fn a_full_ring_overwrites_its_oldest_slot() {
        let mut r = Ring::new(3);
        let slots: Vec<usize> = (0..5).map(|_| r.push()).collect();
        assert_eq!(slots, [0, 1, 2, 0, 1]);
        assert_eq!(r.len(), 3);
    }
}
