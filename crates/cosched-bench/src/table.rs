//! Human-readable report tables.

use crate::inputs::Inputs;
use cosched_core::{ResolvedArrival, RunReport};
use std::fmt::Write;

/// A table of one or more run reports, best objective marked.
pub fn render(reports: &[RunReport], inputs: &Inputs) -> String {
    let mut s = String::new();
    let w = &inputs.workload;
    // A closed loop offers no rate of its own: its clients send as fast as they are served.
    let outstanding: u32 = w
        .streams
        .iter()
        .map(|s| match s.arrival {
            ResolvedArrival::Closed { concurrency } => concurrency,
            _ => 0,
        })
        .sum();
    let open = match w.load {
        Some(l) => format!("load {:.0}% of {:.1} req/s saturation", l * 100.0, w.saturation_rps),
        None => format!(
            "{:.1} req/s offered, saturation {:.1} req/s",
            w.offered_rps, w.saturation_rps
        ),
    };
    let load = if outstanding == 0 {
        open
    } else if w.offered_rps == 0.0 {
        // The saturation is that of the open-loop mix: none here.
        format!("closed loops of {outstanding} outstanding only")
    } else {
        format!("{open}; closed loops of {outstanding} outstanding")
    };
    let r0 = &reports[0];
    let _ = writeln!(
        s,
        "device {} | workload {} ({load}) | {:.1} s | seed {} | mode {}",
        inputs.device.name, w.name, r0.duration_s, r0.seed, r0.mode
    );
    let _ = writeln!(
        s,
        "energy: {} (from the profile's power figures, not a sensor reading)",
        r0.energy_source
    );
    let best = reports.iter().map(|r| r.objective).fold(f64::INFINITY, f64::min);
    let _ = writeln!(
        s,
        "{:<27} {:>9} {:>8} {:>7} {:>9} {:>9} {:>9} {:>9} {:>8} {:>7}",
        "policy", "objective", "lat/slo", "viol%", "p50 ms", "p99 ms", "max ms", "thr rps", "mJ/inf", "W"
    );
    for r in reports {
        let mark = if r.objective == best && reports.len() > 1 {
            "*"
        } else {
            " "
        };
        let _ = writeln!(
            s,
            "{:<26}{mark} {:>9.3} {:>8.3} {:>7.2} {:>9.2} {:>9.2} {:>9.1} {:>9.1} {:>8.1} {:>7.2}",
            r.policy,
            r.objective,
            r.mean_latency_over_slo,
            r.slo_violation_rate * 100.0,
            r.latency_ms.p50,
            r.latency_ms.p99,
            r.latency_ms.max,
            r.throughput_rps,
            r.energy_per_inference_mj,
            r.avg_power_w
        );
    }
    write_actions(&mut s, reports);
    if reports.len() == 1 {
        let _ = writeln!(
            s,
            "\n{:<10} {:>9} {:>12} {:>10}",
            "processor", "completed", "utilization", "energy J"
        );
        for p in &r0.per_processor {
            let _ = writeln!(
                s,
                "{:<10} {:>9} {:>11.1}% {:>10.1}",
                p.id,
                p.completed,
                p.utilization * 100.0,
                p.energy_j
            );
        }
        let _ = writeln!(
            s,
            "\n{:<20} {:>8} {:>9} {:>9} {:>10}",
            "stream", "arrived", "completed", "violated", "mean ms"
        );
        for st in &r0.per_stream {
            let _ = writeln!(
                s,
                "{:<20} {:>8} {:>9} {:>9} {:>10.2}",
                st.name, st.arrived, st.completed, st.violated, st.mean_latency_ms
            );
        }
    }
    s
}

/// Batching and hedging per policy, when any policy batched or hedged.
fn write_actions(s: &mut String, reports: &[RunReport]) {
    let used = |r: &RunReport| r.actions.mean_batch > 1.0 || r.actions.hedges_sent > 0;
    if !reports.iter().any(used) {
        return;
    }
    let _ = writeln!(
        s,
        "\n{:<27} {:>10} {:>12} {:>11} {:>12} {:>14} {:>12}",
        "policy", "mean batch", "hedges sent", "copy won", "copies ran", "copies cancel", "extra inf%"
    );
    for r in reports {
        let a = &r.actions;
        let _ = writeln!(
            s,
            "{:<27} {:>10.2} {:>12} {:>11} {:>12} {:>14} {:>12.1}",
            r.policy,
            a.mean_batch,
            a.hedges_sent,
            a.hedges_won,
            a.hedges_wasted,
            a.hedges_cancelled,
            a.extra_inference_share(r.completed) * 100.0
        );
    }
}

/// The run-time guard's switches, one line each (nothing without a guard).
pub fn write_switches(out: &mut impl std::io::Write, switches: &[cosched_core::PolicySwitch]) -> std::io::Result<()> {
    for s in switches {
        let predicted: Vec<String> = s.predicted.iter().map(|(n, o)| format!("{n} {o:.3}")).collect();
        writeln!(
            out,
            "guard: at {:.1} s {} -> {} (replay scores, lower is better: {})",
            s.at_s,
            s.from,
            s.to,
            predicted.join(", ")
        )?;
    }
    Ok(())
}
