//! The `compare --svg` plot: p99 latency, SLO violation rate and energy per inference per policy.

use crate::inputs::Inputs;
use cosched_core::RunReport;
use plotters::prelude::*;
use std::path::Path;

type Metric = (&'static str, fn(&RunReport) -> f64);

const METRICS: [Metric; 3] = [
    ("p99 latency (ms)", |r| r.latency_ms.p99),
    ("SLO violation rate (%)", |r| r.slo_violation_rate * 100.0),
    ("energy per inference (mJ, modelled)", |r| r.energy_per_inference_mj),
];

/// Write a three-panel horizontal bar chart.
pub fn write_svg(path: &Path, reports: &[RunReport], inputs: &Inputs) -> anyhow::Result<()> {
    let row_h = 26;
    let height = 90 + row_h * reports.len() as u32;
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
    let names: Vec<&str> = reports.iter().map(|r| r.policy.as_str()).collect();
    for (panel, (label, metric)) in panels.iter().zip(METRICS) {
        let values: Vec<f64> = reports.iter().map(metric).collect();
        let max = values.iter().cloned().fold(0.0, f64::max).max(1e-9) * 1.1;
        let mut chart = ChartBuilder::on(panel)
            .caption(label, ("sans-serif", 15))
            .margin(8)
            .x_label_area_size(28)
            .y_label_area_size(if std::ptr::eq(panel, &panels[0]) { 190 } else { 10 })
            .build_cartesian_2d(0.0..max, (0..reports.len()).into_segmented())?;
        let first = std::ptr::eq(panel, &panels[0]);
        chart
            .configure_mesh()
            .disable_y_mesh()
            .y_labels(reports.len())
            .y_label_formatter(&|y| match y {
                SegmentValue::CenterOf(i) if first => names.get(*i).copied().unwrap_or("").to_string(),
                _ => String::new(),
            })
            .draw()?;
        chart.draw_series(values.iter().enumerate().map(|(i, &v)| {
            let color = Palette99::pick(i).mix(0.85);
            Rectangle::new(
                [(0.0, SegmentValue::Exact(i)), (v, SegmentValue::Exact(i + 1))],
                color.filled(),
            )
        }))?;
    }
    root.present()?;
    Ok(())
}
