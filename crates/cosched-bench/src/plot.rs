//! The `compare --svg` plot: p99 latency, SLO violation rate and energy per inference per policy.

use crate::inputs::Inputs;
use cosched_core::RunReport;
use plotters::coord::Shift;
use plotters::prelude::*;
use std::path::Path;

struct Metric {
    label: &'static str,
    value: fn(&RunReport) -> f64,
    // Latencies span orders of magnitude between good and collapsed policies.
    log: bool,
}

const METRICS: [Metric; 3] = [
    Metric {
        label: "p99 latency (ms, log scale)",
        value: |r| r.latency_ms.p99,
        log: true,
    },
    Metric {
        label: "SLO violation rate (%)",
        value: |r| r.slo_violation_rate * 100.0,
        log: false,
    },
    Metric {
        label: "energy per inference (mJ, modelled)",
        value: |r| r.energy_per_inference_mj,
        log: false,
    },
];

fn compact(v: f64) -> String {
    if v >= 1000.0 {
        format!("{:.0}k", v / 1000.0)
    } else if v >= 10.0 {
        format!("{v:.0}")
    } else if v >= 1.0 {
        format!("{v:.1}")
    } else {
        format!("{v:.2}")
    }
}

/// Write a three-panel horizontal bar chart.
pub fn write_svg(path: &Path, reports: &[RunReport], inputs: &Inputs) -> anyhow::Result<()> {
    let height = 90 + 26 * reports.len() as u32;
    let root = SVGBackend::new(path, (1500, height.max(260))).into_drawing_area();
    root.fill(&WHITE)?;
    let title = format!(
        "cosched compare: {} / {}{} (sim, seed {})",
        inputs.device.name,
        inputs.workload.name,
        inputs
            .workload
            .load
            .map(|l| format!(" at {:.0}% load", l * 100.0))
            .unwrap_or_default(),
        reports[0].seed
    );
    let root = root.titled(&title, ("sans-serif", 20))?;
    let panels = root.split_evenly((1, METRICS.len()));
    for (i, (panel, metric)) in panels.iter().zip(&METRICS).enumerate() {
        draw_panel(panel, metric, reports, i == 0)?;
    }
    root.present()?;
    Ok(())
}

fn draw_panel(
    panel: &DrawingArea<SVGBackend<'_>, Shift>,
    metric: &Metric,
    reports: &[RunReport],
    with_names: bool,
) -> anyhow::Result<()> {
    let names: Vec<&str> = reports.iter().map(|r| r.policy.as_str()).collect();
    let values: Vec<f64> = reports.iter().map(metric.value).collect();
    let max = values.iter().cloned().fold(0.0, f64::max).max(1e-9);
    let mut builder = ChartBuilder::on(panel);
    builder
        .caption(metric.label, ("sans-serif", 15))
        .margin(8)
        .x_label_area_size(28)
        .y_label_area_size(if with_names { 190 } else { 10 });
    let rows = (0..reports.len()).into_segmented();
    let name_of = |y: &SegmentValue<usize>| match y {
        SegmentValue::CenterOf(i) if with_names => names.get(*i).copied().unwrap_or("").to_string(),
        _ => String::new(),
    };
    let bar = |i: usize, lo: f64, v: f64| {
        Rectangle::new(
            [(lo, SegmentValue::Exact(i)), (v.max(lo), SegmentValue::Exact(i + 1))],
            Palette99::pick(i).mix(0.85).filled(),
        )
    };
    if metric.log {
        let lo = values.iter().cloned().filter(|v| *v > 0.0).fold(max, f64::min) / 2.0;
        let mut chart = builder.build_cartesian_2d((lo..max * 2.0).log_scale(), rows)?;
        chart
            .configure_mesh()
            .disable_y_mesh()
            .y_labels(reports.len())
            .y_label_formatter(&name_of)
            .x_label_formatter(&|v| compact(*v))
            .draw()?;
        chart.draw_series(values.iter().enumerate().map(|(i, &v)| bar(i, lo, v)))?;
    } else {
        let mut chart = builder.build_cartesian_2d(0.0..max * 1.1, rows)?;
        chart
            .configure_mesh()
            .disable_y_mesh()
            .y_labels(reports.len())
            .y_label_formatter(&name_of)
            .x_label_formatter(&|v| compact(*v))
            .draw()?;
        chart.draw_series(values.iter().enumerate().map(|(i, &v)| bar(i, 0.0, v)))?;
    }
    Ok(())
}
