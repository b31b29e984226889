//! Which streams of the recent past are closed loops, and how many requests each keeps out.
//!
//! A closed-loop client (MLPerf's SingleStream and Offline, a camera pipeline that waits for its
//! result) sends its next request when one comes back, so how many it sends depends on the
//! policy: a policy that serves it faster gets more of its requests, each of them cheap. A replay
//! that plays those arrivals back at the times the live policy caused would give every other
//! candidate the live policy's pace, and misjudge them (on a validation scenario the guard kept a
//! learned policy that fed a 4-deep closed loop to a DLA at 1.13x the objective of least-slack,
//! which keeps the GPU busy with it). So the guard recognises such streams from what it sees,
//! arrivals and completions, and replays them as closed loops.

use std::collections::BTreeMap;

/// One request of the recent past, as the detector needs it.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(super) struct Span {
    pub(super) stream: u16,
    pub(super) arrival_ms: f64,
    /// When it finished, `f64::INFINITY` while it has not (or it is not known).
    pub(super) done_ms: f64,
}

/// An arrival this close after a completion of its own stream is taken as sent by it: the
/// simulator sends it at the same instant, a real client a little later. At most `FOLLOWS_MS`
/// and at most `FOLLOWS_GAP` of the stream's mean gap between arrivals, so that a busy open
/// loop, whose arrivals land near some completion by chance, is not taken for a closed one.
const FOLLOWS_MS: f64 = 1.0;
const FOLLOWS_GAP: f64 = 0.05;

/// A stream counts as a closed loop when at least this share of its arrivals follow a
/// completion of its own: an open-loop stream at high rate has some by chance, not nearly all.
const CLOSED_SHARE: f64 = 0.9;

/// Fewer arrivals than this say nothing either way.
const MIN_ARRIVALS: usize = 8;

/// A closed loop shows itself by arrivals that follow completions; fewer than this say nothing.
/// Without it, a stream none of whose requests has finished yet (an open loop queued behind a
/// burst, or any stream at the early judgement of a dense run) has as many outstanding as it
/// sent, no arrival left to follow a completion, and passed for a closed loop of that
/// concurrency, which the replay then ran thousands of times over.
const MIN_FOLLOWERS: usize = 4;

/// The closed-loop streams among `spans` (in any order) and their concurrency: the most
/// requests of the stream outstanding at once. Streams not listed are open loops.
pub(super) fn closed_loops(spans: &[Span]) -> BTreeMap<u16, u32> {
    let mut by_stream: BTreeMap<u16, Vec<(f64, f64)>> = BTreeMap::new();
    for s in spans {
        by_stream.entry(s.stream).or_default().push((s.arrival_ms, s.done_ms));
    }
    let mut closed = BTreeMap::new();
    for (stream, mut reqs) in by_stream {
        if reqs.len() < MIN_ARRIVALS {
            continue;
        }
        reqs.sort_by(|a, b| a.0.total_cmp(&b.0));
        let mean_gap = (reqs[reqs.len() - 1].0 - reqs[0].0) / (reqs.len() - 1) as f64;
        let follows_ms = FOLLOWS_MS.min(FOLLOWS_GAP * mean_gap);
        let mut done: Vec<f64> = reqs.iter().map(|r| r.1).filter(|d| d.is_finite()).collect();
        done.sort_by(f64::total_cmp);
        // The first arrivals of a loop follow nothing the window holds.
        let followers = reqs
            .iter()
            .filter(|(a, _)| {
                let i = done.partition_point(|d| *d <= *a);
                i > 0 && *a - done[i - 1] <= follows_ms
            })
            .count();
        let concurrency = concurrency_bound(&reqs);
        // Every arrival after the first `concurrency` should follow a completion.
        let expected = reqs.len().saturating_sub(concurrency as usize);
        if followers < MIN_FOLLOWERS || (followers as f64) < CLOSED_SHARE * expected as f64 {
            continue;
        }
        closed.insert(stream, concurrency);
    }
    closed
}

/// The most requests of one stream (sorted by arrival) outstanding at once: a completion at the
/// instant of an arrival is counted first, as a closed loop makes it.
fn concurrency_bound(reqs: &[(f64, f64)]) -> u32 {
    let mut events: Vec<(f64, i32)> = Vec::with_capacity(2 * reqs.len());
    for &(a, d) in reqs {
        events.push((a, 1));
        if d.is_finite() {
            events.push((d, -1));
        }
    }
    // At equal times the completion (-1) goes first.
    events.sort_by(|x, y| x.0.total_cmp(&y.0).then(x.1.cmp(&y.1)));
    let (mut now, mut most) = (0i32, 0i32);
    for (_, delta) in events {
        now += delta;
        most = most.max(now);
    }
    most.max(1) as u32
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `concurrency` loops on stream 0, each request taking `service` ms.
    fn closed(concurrency: u32, service: f64, n: usize) -> Vec<Span> {
        let mut out = Vec::new();
        for c in 0..concurrency {
            let mut t = f64::from(c) * 0.3;
            for _ in 0..n {
                out.push(Span {
                    stream: 0,
                    arrival_ms: t,
                    done_ms: t + service,
                });
                t += service;
            }
        }
        out
    }

    #[test]
    fn a_closed_loop_is_found_with_its_concurrency() {
        assert_eq!(closed_loops(&closed(1, 5.0, 20)), BTreeMap::from([(0, 1)]));
        assert_eq!(closed_loops(&closed(4, 5.0, 20)), BTreeMap::from([(0, 4)]));
    }

    #[test]
    fn the_last_requests_still_out_count_and_a_real_client_may_answer_a_little_late() {
        let mut spans = closed(3, 8.0, 20);
        for s in spans.iter_mut() {
            // Every request but the first of each loop is sent 0.1 ms after the one before ends.
            s.arrival_ms += 0.1 * (s.arrival_ms / 8.0).floor().min(1.0);
        }
        let last = spans.len() - 1;
        spans[last].done_ms = f64::INFINITY;
        assert_eq!(closed_loops(&spans), BTreeMap::from([(0, 3)]));
    }

    #[test]
    fn open_loops_are_not_closed_even_when_busy() {
        // Periodic arrivals every 2 ms, each taking 5.8 ms: always 3 outstanding, and every
        // arrival lands 0.2 ms after a completion, but that is what a busy open loop does by
        // chance (a tenth of its gap), not a client answering.
        let open: Vec<Span> = (0..50)
            .map(|i| Span {
                stream: 3,
                arrival_ms: 2.0 * f64::from(i),
                done_ms: 2.0 * f64::from(i) + 5.8,
            })
            .collect();
        assert!(closed_loops(&open).is_empty());
        // Nothing finished yet (a backlog, or the early judgement of a dense run): as many
        // outstanding as sent, which a closed loop of that concurrency would also show, but
        // no arrival follows a completion, so nothing says it is one.
        let queued: Vec<Span> = open
            .iter()
            .map(|s| Span {
                done_ms: f64::INFINITY,
                ..*s
            })
            .collect();
        assert!(closed_loops(&queued).is_empty());
        // Three arrivals that follow a completion are too few to tell a loop by.
        let mut three = closed(5, 5.0, 2);
        three.retain(|s| s.arrival_ms < 5.0 || s.arrival_ms > 5.4);
        assert_eq!(three.len(), 8);
        assert!(closed_loops(&three).is_empty());
        assert_eq!(
            closed_loops(&closed(5, 5.0, 2)),
            BTreeMap::from([(0, 5)]),
            "five are enough"
        );
        // Too few arrivals to tell.
        assert!(closed_loops(&closed(1, 5.0, 3)).is_empty());
    }

    #[test]
    fn streams_are_told_apart() {
        let mut spans = closed(2, 5.0, 20);
        spans.extend((0..40).map(|i| Span {
            stream: 1,
            arrival_ms: 3.3 * f64::from(i),
            done_ms: 3.3 * f64::from(i) + 2.5,
        }));
        assert_eq!(closed_loops(&spans), BTreeMap::from([(0, 2)]));
    }
}
