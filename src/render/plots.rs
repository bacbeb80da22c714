//! The plots of a report, drawn with plotters from the [`Report`] alone, each as SVG and PNG:
//!
//! - `latency`: produce and end-to-end p50/p99/p99.9/max per second, log scale;
//! - `throughput`: sent, acknowledged and consumed per second, failed deliveries on a
//!   second axis;
//! - `percentiles`: the latency distribution of each phase on an HDR-style percentile axis
//!   (0% to 99.999%), decoded from the report's histograms;
//! - `recovery`: the recovery times of each fault, each partition's unavailability marked on
//!   the longest's bar (or a note that there were no faults).
//!
//! Fault windows are shaded and labelled on the time plots, phase boundaries are marked.
//!
//! NB: text is rendered with DejaVu Sans embedded in the binary (plotters' `ab_glyph`
//! feature), so PNGs look the same on every machine and need no system fonts. SVGs name the
//! generic `sans-serif` family and are measured with the same font.

use std::path::{Path, PathBuf};
use std::sync::Once;

use plotters::coord::Shift;
use plotters::coord::types::RangedCoordf64;
use plotters::prelude::*;

use crate::measure::LatencyHistogram;
use crate::report::{FaultRecord, Interval, RecoveryFigure, Report};

/// The embedded font (see the module notes).
static FONT: &[u8] = include_bytes!("fonts/DejaVuSans.ttf");
const FAMILY: &str = "sans-serif";

/// Pixel size of the PNGs (and the SVGs' view box).
const WIDE: (u32, u32) = (1280, 520);
const TALL: (u32, u32) = (1280, 860);

const BLUE_: RGBColor = RGBColor(31, 119, 180);
const ORANGE: RGBColor = RGBColor(255, 127, 14);
const GREEN_: RGBColor = RGBColor(44, 160, 44);
const RED_: RGBColor = RGBColor(214, 39, 40);
const PURPLE: RGBColor = RGBColor(148, 103, 189);
const BROWN: RGBColor = RGBColor(140, 86, 75);
const PINK: RGBColor = RGBColor(227, 119, 194);
const GREY: RGBColor = RGBColor(110, 110, 110);
const OLIVE: RGBColor = RGBColor(188, 189, 34);
const TEAL: RGBColor = RGBColor(23, 190, 207);
/// Fault windows: a light amber band with a darker label.
const FAULT_FILL: RGBColor = RGBColor(255, 170, 60);
const FAULT_TEXT: RGBColor = RGBColor(150, 70, 0);
/// One color per phase, in order.
const PALETTE: [RGBColor; 10] = [BLUE_, ORANGE, GREEN_, RED_, PURPLE, BROWN, PINK, GREY, OLIVE, TEAL];
/// One color per recovery figure, in order: the palette without grey, which says `n/a` there.
const BARS: [RGBColor; 9] = [BLUE_, ORANGE, GREEN_, RED_, PURPLE, BROWN, PINK, OLIVE, TEAL];

/// One rendered plot.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PlotFile {
    /// `latency`, `throughput`, `percentiles`, `recovery`.
    pub name: &'static str,
    /// Its title, for alt texts and headings.
    pub title: &'static str,
    pub svg: PathBuf,
    pub png: PathBuf,
}

/// Why a plot could not be drawn.
#[derive(Debug, thiserror::Error)]
#[error("cannot draw plot {name} into {path}: {message}")]
pub struct PlotError {
    pub name: &'static str,
    pub path: PathBuf,
    pub message: String,
}

/// The plots of a report: name, title, size.
const PLOTS: [(&str, &str, (u32, u32)); 4] = [
    ("latency", "Latency over time", TALL),
    ("throughput", "Throughput over time", WIDE),
    ("percentiles", "Latency by percentile", TALL),
    ("recovery", "Recovery times per fault", WIDE),
];

/// Draws the plot called `name` on any backend.
fn draw<DB: DrawingBackend>(name: &str, area: &DrawingArea<DB, Shift>, report: &Report) -> Result<(), String> {
    match name {
        "latency" => latency(area, report),
        "throughput" => throughput(area, report),
        "percentiles" => percentiles(area, report),
        _ => recovery(area, report),
    }
}

/// Draws every plot of `report` into `dir` as `NAME.svg` and `NAME.png`.
///
/// # Errors
/// When a file cannot be written or a histogram cannot be decoded.
pub fn render(report: &Report, dir: &Path) -> Result<Vec<PlotFile>, PlotError> {
    register_font();
    std::fs::create_dir_all(dir).map_err(|e| PlotError {
        name: "plots",
        path: dir.to_path_buf(),
        message: e.to_string(),
    })?;
    let mut out = Vec::new();
    for (name, title, size) in PLOTS {
        let svg_path = dir.join(format!("{name}.svg"));
        let png_path = dir.join(format!("{name}.png"));
        let err = |path: &Path, message: String| PlotError { name, path: path.to_path_buf(), message };

        let mut svg = String::new();
        {
            let area = SVGBackend::with_string(&mut svg, size).into_drawing_area();
            draw(name, &area, report).map_err(|m| err(&svg_path, m))?;
            area.present().map_err(|e| err(&svg_path, e.to_string()))?;
        }
        std::fs::write(&svg_path, svg).map_err(|e| err(&svg_path, e.to_string()))?;

        {
            let area = BitMapBackend::new(&png_path, size).into_drawing_area();
            draw(name, &area, report).map_err(|m| err(&png_path, m))?;
            area.present().map_err(|e| err(&png_path, e.to_string()))?;
        }
        out.push(PlotFile { name, title, svg: svg_path, png: png_path });
    }
    Ok(out)
}

fn register_font() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        // The font is a constant known to parse; should that ever change, text would be
        // missing from the plots and the pixel tests would say so.
        let _ = plotters::style::register_font(FAMILY, FontStyle::Normal, FONT);
    });
}

fn font(size: u32) -> TextStyle<'static> {
    (FAMILY, size).into_font().into()
}

fn e<E: std::fmt::Display>(err: E) -> String {
    err.to_string()
}

/// The time axis: the whole run, at least one second.
fn time_range(report: &Report) -> std::ops::Range<f64> {
    let last = report.timeseries.iter().map(|i| i.sec as f64 + 1.0).fold(0.0, f64::max);
    let faults = report.faults.iter().map(|f| f.end_secs).fold(0.0, f64::max);
    0.0..last.max(report.duration_secs).max(faults).max(1.0)
}

/// A tick label for a latency in milliseconds: `500 µs`, `2 ms`, `1.5 s`.
fn tick_ms(ms: f64) -> String {
    fn trim(v: f64) -> String {
        let s = format!("{v:.3}");
        s.trim_end_matches('0').trim_end_matches('.').to_string()
    }
    if ms >= 1000.0 {
        format!("{} s", trim(ms / 1000.0))
    } else if ms >= 1.0 {
        format!("{} ms", trim(ms))
    } else {
        format!("{} µs", trim(ms * 1000.0))
    }
}

/// A log axis around the positive values: from a bit below the lowest to a bit above the highest.
fn log_bounds(values: impl Iterator<Item = f64>) -> (f64, f64) {
    let (lo, hi) =
        values.filter(|v| *v > 0.0 && v.is_finite()).fold((f64::MAX, 0.0f64), |(lo, hi), v| (lo.min(v), hi.max(v)));
    if hi <= 0.0 {
        return (0.1, 10.0);
    }
    // Round out to 1-2-5 steps so the axis starts and ends on readable values.
    let down = |v: f64| {
        let p = 10f64.powf(v.log10().floor());
        [5.0, 2.0, 1.0].iter().map(|m| m * p).find(|x| *x <= v).unwrap_or(p)
    };
    let up = |v: f64| {
        let p = 10f64.powf(v.log10().floor());
        [1.0, 2.0, 5.0, 10.0].iter().map(|m| m * p).find(|x| *x >= v).unwrap_or(10.0 * p)
    };
    let (lo, hi) = (down(lo / 1.2), up(hi * 1.3));
    if hi / lo < 10.0 { (lo, lo * 10.0) } else { (lo, hi) }
}

/// Contiguous runs of points, so that seconds without data break a line instead of
/// bridging it.
fn segments(points: &[(f64, Option<f64>)]) -> Vec<Vec<(f64, f64)>> {
    let mut out: Vec<Vec<(f64, f64)>> = Vec::new();
    let mut cur = Vec::new();
    for (x, y) in points {
        match y {
            Some(y) => cur.push((*x, *y)),
            None if !cur.is_empty() => out.push(std::mem::take(&mut cur)),
            None => {}
        }
    }
    if !cur.is_empty() {
        out.push(cur);
    }
    out
}

type Chart<'a, DB, X, Y> = ChartContext<'a, DB, Cartesian2d<X, Y>>;

/// Draws a series made of several segments; lone points become dots. Returns whether
/// anything was drawn.
fn draw_segments<DB: DrawingBackend, X, Y>(
    chart: &mut Chart<'_, DB, X, Y>,
    points: &[(f64, Option<f64>)],
    color: RGBColor,
    width: u32,
    dashed: bool,
) -> Result<bool, String>
where
    X: Ranged<ValueType = f64>,
    Y: Ranged<ValueType = f64>,
{
    let segs = segments(points);
    let style = color.stroke_width(width);
    for seg in &segs {
        if seg.len() == 1 {
            // A lone second is a dot, or it would not show at all.
            chart.draw_series(seg.iter().map(|p| Circle::new(*p, width + 1, color.filled()))).map_err(e)?;
        } else if dashed {
            chart.draw_series(DashedLineSeries::new(seg.iter().copied(), 7, 5, style)).map_err(e)?;
        } else {
            chart.draw_series(LineSeries::new(seg.iter().copied(), style)).map_err(e)?;
        }
    }
    Ok(!segs.is_empty())
}

/// How a legend entry is drawn.
#[derive(Debug, Clone, Copy)]
enum Mark {
    Line(RGBColor, u32),
    Dashed(RGBColor),
    Ring(RGBColor),
    Dot(RGBColor),
    Band,
    Bar(RGBColor),
}

/// Width of the legend column right of each chart.
const LEGEND_W: u32 = 215;

/// Splits a panel into the chart and its legend column.
fn with_legend<DB: DrawingBackend>(panel: &DrawingArea<DB, Shift>) -> (DrawingArea<DB, Shift>, DrawingArea<DB, Shift>) {
    let w = panel.dim_in_pixel().0;
    panel.split_horizontally(w.saturating_sub(LEGEND_W))
}

/// Draws a legend box at `top` pixels in the legend column, outside the data.
fn draw_legend<DB: DrawingBackend>(
    area: &DrawingArea<DB, Shift>,
    top: i32,
    items: &[(String, Mark)],
) -> Result<(), String> {
    if items.is_empty() {
        return Ok(());
    }
    let row = 22;
    let (w, _) = area.dim_in_pixel();
    let (x0, x1) = (4, w as i32 - 12);
    let bottom = top + 10 + row * items.len() as i32;
    area.draw(&Rectangle::new([(x0, top), (x1, bottom)], WHITE.filled())).map_err(e)?;
    area.draw(&Rectangle::new([(x0, top), (x1, bottom)], RGBColor(180, 180, 180).stroke_width(1))).map_err(e)?;
    let anchor = plotters::style::text_anchor::Pos::new(
        plotters::style::text_anchor::HPos::Left,
        plotters::style::text_anchor::VPos::Center,
    );
    for (i, (label, mark)) in items.iter().enumerate() {
        let y = top + 5 + row * i as i32 + row / 2;
        let (a, b) = (x0 + 10, x0 + 36);
        match *mark {
            Mark::Line(c, w) => area.draw(&PathElement::new(vec![(a, y), (b, y)], c.stroke_width(w + 1))).map_err(e)?,
            Mark::Dashed(c) => {
                for k in 0..3 {
                    let s = a + k * 10;
                    area.draw(&PathElement::new(vec![(s, y), (s + 6, y)], c.stroke_width(3))).map_err(e)?;
                }
            }
            Mark::Ring(c) => area.draw(&Circle::new(((a + b) / 2, y), 3, c.stroke_width(1))).map_err(e)?,
            Mark::Dot(c) => area.draw(&Circle::new(((a + b) / 2, y), 4, c.filled())).map_err(e)?,
            Mark::Band => {
                area.draw(&Rectangle::new([(a, y - 7), (b, y + 7)], FAULT_FILL.mix(0.45).filled())).map_err(e)?
            }
            Mark::Bar(c) => area.draw(&Rectangle::new([(a + 6, y - 7), (b - 6, y + 7)], c.filled())).map_err(e)?,
        }
        area.draw(&Text::new(label.clone(), (b + 8, y), font(14).pos(anchor))).map_err(e)?;
    }
    Ok(())
}

/// Shaded, labelled fault windows and dashed phase boundaries over the whole y range.
fn draw_context<DB: DrawingBackend, Y>(
    chart: &mut Chart<'_, DB, RangedCoordf64, Y>,
    report: &Report,
    y_lo: f64,
    y_hi: f64,
) -> Result<(), String>
where
    Y: Ranged<ValueType = f64>,
{
    for (i, p) in report.phases.iter().enumerate().filter(|(_, p)| p.duration_secs > 0.0) {
        let x = p.start_secs;
        if i > 0 {
            chart
                .draw_series(DashedLineSeries::new(vec![(x, y_lo), (x, y_hi)], 6, 4, GREY.mix(0.7).stroke_width(1)))
                .map_err(e)?;
        }
        // Phase names along the top edge, fault labels below them.
        chart
            .draw_series(std::iter::once(
                EmptyElement::at((x, y_hi)) + Text::new(p.name.clone(), (4, 4), font(13).color(&GREY)),
            ))
            .map_err(e)?;
    }
    for (i, f) in report.faults.iter().enumerate() {
        let band =
            Rectangle::new([(f.start_secs, y_lo), (f.end_secs.max(f.start_secs), y_hi)], FAULT_FILL.mix(0.22).filled());
        chart.draw_series(std::iter::once(band)).map_err(e)?;
        let edge = FAULT_FILL.mix(0.9).stroke_width(1);
        chart
            .draw_series([f.start_secs, f.end_secs].map(|x| PathElement::new(vec![(x, y_lo), (x, y_hi)], edge)))
            .map_err(e)?;
        // Labels of neighbouring faults are staggered so that they do not overlap.
        let dy = 22 + 17 * (i as i32 % 2);
        chart
            .draw_series(std::iter::once(
                EmptyElement::at((f.start_secs, y_hi))
                    + Text::new(fault_label(f), (4, dy), font(13).color(&FAULT_TEXT)),
            ))
            .map_err(e)?;
    }
    Ok(())
}

/// A linear axis whose ticks sit exactly at the given values (group centres, whole nines).
#[derive(Debug, Clone)]
struct Keyed {
    lo: f64,
    hi: f64,
    keys: Vec<f64>,
}

impl Ranged for Keyed {
    type FormatOption = plotters::coord::ranged1d::DefaultFormatting;
    type ValueType = f64;

    fn map(&self, v: &f64, limit: (i32, i32)) -> i32 {
        let r = (v - self.lo) / (self.hi - self.lo);
        limit.0 + (r * f64::from(limit.1 - limit.0)).round() as i32
    }

    fn key_points<Hint: plotters::coord::ranged1d::KeyPointHint>(&self, hint: Hint) -> Vec<f64> {
        // Light (minor) grid lines: none; bold ones at the keys.
        if hint.weight().allow_light_points() { Vec::new() } else { self.keys.clone() }
    }

    fn range(&self) -> std::ops::Range<f64> {
        self.lo..self.hi
    }
}

/// `kill-leader: kill node 2`.
fn fault_label(f: &FaultRecord) -> String {
    let nodes = match f.target.nodes.as_slice() {
        [] => String::new(),
        [n] => format!(" node {n}"),
        ns => format!(" nodes {}", ns.iter().map(i32::to_string).collect::<Vec<_>>().join(",")),
    };
    format!("{}: {}{nodes}", f.id, f.action)
}

/// Shows a note in the middle of an empty chart.
fn draw_note<DB: DrawingBackend>(area: &DrawingArea<DB, Shift>, note: &str) -> Result<(), String> {
    let (w, h) = area.dim_in_pixel();
    let style = font(22).color(&GREY).pos(plotters::style::text_anchor::Pos::new(
        plotters::style::text_anchor::HPos::Center,
        plotters::style::text_anchor::VPos::Center,
    ));
    area.draw(&Text::new(note.to_string(), (w as i32 / 2, h as i32 / 2), style)).map_err(e)
}

/// The time legend's fixed part: the fault band, when there are faults.
fn fault_legend(report: &Report) -> Option<(String, Mark)> {
    (!report.faults.is_empty()).then(|| ("fault window".to_string(), Mark::Band))
}

/// Above this many seconds the per-second max is a thin line rather than rings.
const MAX_RINGS: usize = 900;

fn latency<DB: DrawingBackend>(root: &DrawingArea<DB, Shift>, report: &Report) -> Result<(), String> {
    root.fill(&WHITE).map_err(e)?;
    let root = root.titled("Latency over time (per second, from the intended send time)", font(24)).map_err(e)?;
    let panels = root.split_evenly((2, 1));
    type Summary = fn(&Interval) -> &crate::measure::LatencySummary;
    let kinds: [(&str, Summary); 2] =
        [("Produce (ack) latency", |i| &i.produce), ("End-to-end latency (producer to consumer)", |i| &i.e2e)];
    let all = report
        .timeseries
        .iter()
        .flat_map(|i| [&i.produce, &i.e2e])
        .filter(|s| s.count > 0)
        .flat_map(|s| [s.p50_us, s.max_us])
        .map(|us| us as f64 / 1000.0);
    // Both panels share one scale, so that they can be compared at a glance.
    let (lo, hi) = log_bounds(all);
    let rings = report.timeseries.len() <= MAX_RINGS;
    for (panel, (caption, get)) in panels.iter().zip(kinds) {
        let (area, legend_area) = with_legend(panel);
        let mut chart = ChartBuilder::on(&area)
            .caption(caption, font(18))
            .margin(12)
            .x_label_area_size(48)
            .y_label_area_size(84)
            .build_cartesian_2d(time_range(report), (lo..hi).log_scale())
            .map_err(e)?;
        chart
            .configure_mesh()
            .x_desc("time since run start (s)")
            .y_desc("latency (log scale)")
            .x_label_formatter(&|x| format!("{x:.0}"))
            .y_label_formatter(&|y| tick_ms(*y))
            .label_style(font(14))
            .axis_desc_style(font(15))
            .light_line_style(RGBColor(238, 238, 238))
            .bold_line_style(RGBColor(210, 210, 210))
            .draw()
            .map_err(e)?;
        draw_context(&mut chart, report, lo, hi)?;
        let value = |i: &Interval, pick: fn(&crate::measure::LatencySummary) -> u64| {
            let s = get(i);
            (s.count > 0).then(|| (pick(s) as f64 / 1000.0).max(lo))
        };
        // The max first, so that the percentiles stay visible where they meet it.
        let max: Vec<(f64, Option<f64>)> =
            report.timeseries.iter().map(|i| (i.sec as f64 + 0.5, value(i, |s| s.max_us))).collect();
        if rings {
            chart
                .draw_series(max.iter().filter_map(|(x, y)| y.map(|y| Circle::new((*x, y), 3, GREY.stroke_width(1)))))
                .map_err(e)?;
        } else {
            draw_segments(&mut chart, &max, GREY, 1, false)?;
        }
        type Pick = fn(&crate::measure::LatencySummary) -> u64;
        let lines: [(&str, RGBColor, Pick); 3] =
            [("p50", BLUE_, |s| s.p50_us), ("p99", ORANGE, |s| s.p99_us), ("p99.9", RED_, |s| s.p999_us)];
        let mut legend = Vec::new();
        for (label, color, pick) in lines {
            let points: Vec<(f64, Option<f64>)> =
                report.timeseries.iter().map(|i| (i.sec as f64 + 0.5, value(i, pick))).collect();
            let any = draw_segments(&mut chart, &points, color, 2, false)?;
            legend.push((if any { label.to_string() } else { format!("{label} (no data)") }, Mark::Line(color, 2)));
        }
        legend.push(("max".to_string(), if rings { Mark::Ring(GREY) } else { Mark::Line(GREY, 1) }));
        legend.extend(fault_legend(report));
        draw_legend(&legend_area, 44, &legend)?;
    }
    Ok(())
}

fn throughput<DB: DrawingBackend>(root: &DrawingArea<DB, Shift>, report: &Report) -> Result<(), String> {
    root.fill(&WHITE).map_err(e)?;
    let root = root.titled("Throughput over time (messages per second)", font(24)).map_err(e)?;
    let (area, legend_area) = with_legend(&root);
    let top = report.timeseries.iter().map(|i| i.sent.max(i.acked).max(i.consumed)).max().unwrap_or(0) as f64;
    let y_hi = if top > 0.0 { top * 1.2 } else { 10.0 };
    let err_top = report.timeseries.iter().map(|i| i.failed).max().unwrap_or(0) as f64;
    let err_hi = if err_top > 0.0 { (err_top * 1.2).max(5.0) } else { 5.0 };
    let x = time_range(report);
    let mut chart = ChartBuilder::on(&area)
        .margin(12)
        .x_label_area_size(48)
        .y_label_area_size(84)
        .right_y_label_area_size(76)
        .build_cartesian_2d(x.clone(), 0.0..y_hi)
        .map_err(e)?
        .set_secondary_coord(x, 0.0..err_hi);
    chart
        .configure_mesh()
        .x_desc("time since run start (s)")
        .y_desc("messages per second")
        .x_label_formatter(&|x| format!("{x:.0}"))
        .y_label_formatter(&|y| format!("{y:.0}"))
        .label_style(font(14))
        .axis_desc_style(font(15))
        .light_line_style(RGBColor(238, 238, 238))
        .bold_line_style(RGBColor(210, 210, 210))
        .draw()
        .map_err(e)?;
    chart
        .configure_secondary_axes()
        .y_desc("failed deliveries per second")
        .y_labels(6)
        .y_label_formatter(&|y| if y.fract() == 0.0 { format!("{y:.0}") } else { String::new() })
        .label_style(font(14).color(&RED_))
        .axis_desc_style(font(15).color(&RED_))
        .draw()
        .map_err(e)?;
    draw_context(&mut chart, report, 0.0, y_hi)?;
    // Errors first, as bars under the lines, on the right-hand axis.
    chart
        .draw_secondary_series(report.timeseries.iter().filter(|i| i.failed > 0).map(|i| {
            Rectangle::new(
                [(i.sec as f64 + 0.15, 0.0), (i.sec as f64 + 0.85, i.failed as f64)],
                RED_.mix(0.75).filled(),
            )
        }))
        .map_err(e)?;
    type Pick = fn(&Interval) -> u64;
    // Consumed is dashed: it often equals acknowledged, which then shows through.
    let lines: [(&str, RGBColor, u32, bool, Pick); 3] = [
        ("sent", BLUE_, 3, false, |i| i.sent),
        ("acknowledged", GREEN_, 2, false, |i| i.acked),
        ("consumed", PURPLE, 2, true, |i| i.consumed),
    ];
    let mut legend = Vec::new();
    for (label, color, width, dashed, pick) in lines {
        let points: Vec<(f64, Option<f64>)> =
            report.timeseries.iter().map(|i| (i.sec as f64 + 0.5, Some(pick(i) as f64))).collect();
        draw_segments(&mut chart, &points, color, width, dashed)?;
        legend.push((label.to_string(), if dashed { Mark::Dashed(color) } else { Mark::Line(color, width) }));
    }
    legend.push(("failed (right axis)".to_string(), Mark::Bar(RGBColor(224, 93, 94))));
    legend.extend(fault_legend(report));
    draw_legend(&legend_area, 16, &legend)?;
    Ok(())
}

/// Points of a latency-by-percentile curve in (nines, ms), up to the last quantile the
/// histogram resolves (about log10(count) nines), then a point at its max.
pub(crate) fn percentile_curve(h: &LatencyHistogram, max_nines: f64) -> Vec<(f64, f64)> {
    if h.is_empty() {
        return Vec::new();
    }
    let reach = (h.count() as f64).log10().min(max_nines);
    let mut pts = Vec::new();
    let steps = 250;
    for k in 0..=steps {
        let x = reach * k as f64 / steps as f64;
        let q = 1.0 - 10f64.powf(-x);
        pts.push((x, h.value_at_quantile(q) as f64 / 1000.0));
    }
    let max = h.value_at_quantile(1.0) as f64 / 1000.0;
    if reach < max_nines {
        pts.push((reach, max));
    }
    pts
}

fn percentiles<DB: DrawingBackend>(root: &DrawingArea<DB, Shift>, report: &Report) -> Result<(), String> {
    const MAX_NINES: f64 = 5.0;
    root.fill(&WHITE).map_err(e)?;
    let root = root.titled("Latency by percentile, per phase (HDR percentile axis)", font(24)).map_err(e)?;
    let panels = root.split_evenly((2, 1));
    let mut decoded = Vec::new();
    for (i, ph) in report.histograms.phases.iter().enumerate() {
        let set = ph.decode().map_err(|err| format!("histograms of phase {}: {err}", ph.phase))?;
        let measured = report.phase(&ph.phase).is_none_or(|p| p.measured);
        decoded.push((PALETTE[i % PALETTE.len()], ph.phase.clone(), measured, set));
    }
    type Curve = (RGBColor, String, Vec<(f64, f64)>);
    let curves = |produce: bool| -> Vec<Curve> {
        decoded
            .iter()
            .map(|(c, name, measured, set)| {
                let h = if produce { &set.produce } else { &set.e2e };
                let label = if *measured { name.clone() } else { format!("{name} (not measured)") };
                (*c, label, percentile_curve(h, MAX_NINES))
            })
            .collect()
    };
    let (prod, e2e) = (curves(true), curves(false));
    let (lo, hi) = log_bounds(prod.iter().chain(e2e.iter()).flat_map(|(_, _, pts)| pts.iter().map(|p| p.1)));
    for (panel, (caption, cs)) in panels.iter().zip([("Produce (ack) latency", prod), ("End-to-end latency", e2e)]) {
        let (area, legend_area) = with_legend(panel);
        let x_keys: Vec<f64> = (0..=MAX_NINES as i32).map(f64::from).collect();
        let mut chart = ChartBuilder::on(&area)
            .caption(caption, font(18))
            .margin(12)
            .margin_right(36)
            .x_label_area_size(48)
            .y_label_area_size(84)
            .build_cartesian_2d(Keyed { lo: 0.0, hi: MAX_NINES, keys: x_keys }, (lo..hi).log_scale())
            .map_err(e)?;
        chart
            .configure_mesh()
            .x_desc("percentile")
            .y_desc("latency (log scale)")
            .x_label_formatter(&|x| percentile_label(*x))
            .y_label_formatter(&|y| tick_ms(*y))
            .label_style(font(14))
            .axis_desc_style(font(15))
            .light_line_style(RGBColor(238, 238, 238))
            .bold_line_style(RGBColor(210, 210, 210))
            .draw()
            .map_err(e)?;
        let mut legend = Vec::new();
        for (color, label, pts) in cs {
            if pts.is_empty() {
                legend.push((format!("{label} (no data)"), Mark::Line(color, 2)));
                continue;
            }
            let end = *pts.last().unwrap_or(&(0.0, lo));
            chart
                .draw_series(LineSeries::new(pts.into_iter().map(|(x, y)| (x, y.max(lo))), color.stroke_width(2)))
                .map_err(e)?;
            // The max, where the histogram runs out of samples.
            chart.draw_series(std::iter::once(Circle::new((end.0, end.1.max(lo)), 4, color.filled()))).map_err(e)?;
            legend.push((label, Mark::Line(color, 2)));
        }
        legend.push(("max (last sample)".into(), Mark::Dot(GREY)));
        draw_legend(&legend_area, 44, &legend)?;
    }
    Ok(())
}

/// `90%`, `99.9%`, ... for whole numbers of nines.
fn percentile_label(x: f64) -> String {
    let n = x.round() as i32;
    if (x - f64::from(n)).abs() > 1e-6 {
        return String::new();
    }
    match n {
        0 => "0%".into(),
        1 => "90%".into(),
        n => format!("99.{}%", "9".repeat((n - 2) as usize)).replace("99.%", "99%"),
    }
}

fn recovery<DB: DrawingBackend>(root: &DrawingArea<DB, Shift>, report: &Report) -> Result<(), String> {
    root.fill(&WHITE).map_err(e)?;
    let root = root.titled("Recovery times per fault", font(24)).map_err(e)?;
    let faults = &report.faults;
    if faults.is_empty() {
        return draw_note(&root, "no faults in this run");
    }
    let (area, legend_area) = with_legend(&root);
    let figures = RecoveryFigure::times_for(faults);
    let partitions = |f: &FaultRecord| -> Vec<f64> {
        f.recovery.partitions().into_iter().map(|(_, v)| v).filter(|v| v.is_finite() && *v >= 0.0).collect()
    };
    let top = faults
        .iter()
        .flat_map(|f| figures.iter().filter_map(|g| g.of(&f.recovery)).chain(partitions(f)))
        .fold(0.0, f64::max);
    let y_hi = if top > 0.0 { top * 1.15 } else { 10.0 };
    let n = faults.len() as f64;
    let keys: Vec<f64> = (0..faults.len()).map(|i| i as f64 + 0.5).collect();
    let labels: Vec<String> = faults.iter().map(fault_label).collect();
    let mut chart = ChartBuilder::on(&area)
        .margin(12)
        .x_label_area_size(48)
        .y_label_area_size(84)
        .build_cartesian_2d(Keyed { lo: 0.0, hi: n, keys }, 0.0..y_hi)
        .map_err(e)?;
    chart
        .configure_mesh()
        .disable_x_mesh()
        .x_desc("fault")
        .y_desc("seconds from the fault's start")
        .x_label_formatter(&|x| labels.get(x.floor() as usize).cloned().unwrap_or_default())
        .y_label_formatter(&|y| format!("{y:.0}"))
        .label_style(font(14))
        .axis_desc_style(font(15))
        .light_line_style(TRANSPARENT)
        .bold_line_style(RGBColor(215, 215, 215))
        .draw()
        .map_err(e)?;
    // Groups are separated by a thin line.
    chart
        .draw_series((1..faults.len()).map(|i| {
            PathElement::new(vec![(i as f64, 0.0), (i as f64, y_hi)], RGBColor(200, 200, 200).stroke_width(1))
        }))
        .map_err(e)?;
    let slot = 0.84 / figures.len() as f64;
    let mut legend = Vec::new();
    let anchor = plotters::style::text_anchor::Pos::new(
        plotters::style::text_anchor::HPos::Center,
        plotters::style::text_anchor::VPos::Bottom,
    );
    for (k, fig) in figures.iter().enumerate() {
        let color = BARS[k % BARS.len()];
        let x0 = |i: usize| i as f64 + 0.08 + slot * k as f64;
        chart
            .draw_series(faults.iter().enumerate().filter_map(|(i, f)| {
                fig.of(&f.recovery).map(|v| Rectangle::new([(x0(i), 0.0), (x0(i) + slot * 0.9, v)], color.filled()))
            }))
            .map_err(e)?;
        // Values on the bars; `n/a` where a figure was not measured.
        chart
            .draw_series(faults.iter().enumerate().map(|(i, f)| {
                let x = x0(i) + slot * 0.45;
                let (text, y, c) = match fig.of(&f.recovery) {
                    Some(v) => (format!("{v:.1}"), v, &BLACK),
                    None => ("n/a".to_string(), 0.0, &GREY),
                };
                EmptyElement::at((x, y)) + Text::new(text, (0, -3), font(12).color(c).pos(anchor))
            }))
            .map_err(e)?;
        let label = match fig {
            RecoveryFigure::UnavailableMax => "unavailable (longest gap)",
            RecoveryFigure::Rebalance => "rebalance (length)",
            f => f.label(),
        };
        legend.push((label.to_string(), Mark::Bar(color)));
        // Each partition's unavailability as a tick across the longest's bar: how many
        // partitions the fault took away, and for how long, beside the worst of them.
        if *fig == RecoveryFigure::UnavailableMax && faults.iter().any(|f| !partitions(f).is_empty()) {
            chart
                .draw_series(faults.iter().enumerate().flat_map(|(i, f)| {
                    partitions(f).into_iter().map(move |v| {
                        PathElement::new(vec![(x0(i), v), (x0(i) + slot * 0.9, v)], BLACK.stroke_width(2))
                    })
                }))
                .map_err(e)?;
            legend.push(("a partition's unavailability".to_string(), Mark::Line(BLACK, 1)));
        }
    }
    legend.push(("n/a: not measured".to_string(), Mark::Bar(WHITE)));
    draw_legend(&legend_area, 16, &legend)?;
    Ok(())
}

/// One step of a capacity search, as the capacity plot draws it.
#[derive(Debug, Clone, PartialEq)]
pub struct CapacityPoint {
    /// Target rate, messages per second.
    pub rate: f64,
    /// p99 produce latency (µs), when anything was acknowledged.
    pub produce_p99_us: Option<u64>,
    /// p99 end-to-end latency (µs), when consumers measured any.
    pub e2e_p99_us: Option<u64>,
    pub passed: bool,
}

/// Draws p99 latency against the target rate of each capacity step, with the bounds as
/// dashed lines and the sustained rate marked, into `dir/capacity.svg` and `.png`.
///
/// # Errors
/// When a file cannot be written.
pub fn capacity(
    points: &[CapacityPoint],
    bounds_us: (Option<u64>, Option<u64>),
    sustained: Option<f64>,
    title: &str,
    dir: &Path,
) -> Result<PlotFile, PlotError> {
    register_font();
    let name = "capacity";
    let svg_path = dir.join("capacity.svg");
    let png_path = dir.join("capacity.png");
    let err = |path: &Path, message: String| PlotError { name, path: path.to_path_buf(), message };
    let mut svg = String::new();
    {
        let area = SVGBackend::with_string(&mut svg, WIDE).into_drawing_area();
        capacity_chart(&area, points, bounds_us, sustained, title).map_err(|m| err(&svg_path, m))?;
        area.present().map_err(|x| err(&svg_path, x.to_string()))?;
    }
    std::fs::write(&svg_path, svg).map_err(|x| err(&svg_path, x.to_string()))?;
    {
        let area = BitMapBackend::new(&png_path, WIDE).into_drawing_area();
        capacity_chart(&area, points, bounds_us, sustained, title).map_err(|m| err(&png_path, m))?;
        area.present().map_err(|x| err(&png_path, x.to_string()))?;
    }
    Ok(PlotFile { name, title: "p99 latency by target rate", svg: svg_path, png: png_path })
}

fn capacity_chart<DB: DrawingBackend>(
    root: &DrawingArea<DB, Shift>,
    points: &[CapacityPoint],
    bounds_us: (Option<u64>, Option<u64>),
    sustained: Option<f64>,
    title: &str,
) -> Result<(), String> {
    root.fill(&WHITE).map_err(e)?;
    let root = root.titled(title, font(22)).map_err(e)?;
    let (area, legend_area) = with_legend(&root);
    let to_ms = |us: u64| us as f64 / 1000.0;
    let values = points
        .iter()
        .flat_map(|p| [p.produce_p99_us, p.e2e_p99_us])
        .chain([bounds_us.0, bounds_us.1])
        .flatten()
        .map(to_ms);
    let (lo, hi) = log_bounds(values);
    let x_hi = points.iter().map(|p| p.rate).fold(1.0, f64::max) * 1.08;
    let mut chart = ChartBuilder::on(&area)
        .margin(12)
        .x_label_area_size(48)
        .y_label_area_size(84)
        .build_cartesian_2d(0.0..x_hi, (lo..hi).log_scale())
        .map_err(e)?;
    chart
        .configure_mesh()
        .x_desc("target rate (msg/s)")
        .y_desc("p99 latency (log scale)")
        .x_label_formatter(&|x| format!("{x:.0}"))
        .y_label_formatter(&|y| tick_ms(*y))
        .label_style(font(14))
        .axis_desc_style(font(15))
        .light_line_style(RGBColor(238, 238, 238))
        .bold_line_style(RGBColor(210, 210, 210))
        .draw()
        .map_err(e)?;
    let mut legend = Vec::new();
    if let Some(r) = sustained {
        chart
            .draw_series(DashedLineSeries::new(vec![(r, lo), (r, hi)], 6, 4, GREEN_.mix(0.8).stroke_width(2)))
            .map_err(e)?;
        legend.push((format!("sustained {r:.0} msg/s"), Mark::Dashed(GREEN_)));
    }
    let mut sorted: Vec<&CapacityPoint> = points.iter().collect();
    sorted.sort_by(|a, b| a.rate.total_cmp(&b.rate));
    type Pick = fn(&CapacityPoint) -> Option<u64>;
    let series: [(&str, RGBColor, Pick, Option<u64>); 2] = [
        ("produce p99", ORANGE, |p| p.produce_p99_us, bounds_us.0),
        ("end-to-end p99", PURPLE, |p| p.e2e_p99_us, bounds_us.1),
    ];
    for (label, color, pick, bound) in series {
        let line: Vec<(f64, Option<f64>)> =
            sorted.iter().map(|p| (p.rate, pick(p).map(|v| to_ms(v).max(lo)))).collect();
        if line.iter().all(|(_, y)| y.is_none()) {
            continue;
        }
        draw_segments(&mut chart, &line, color, 1, false)?;
        // Passing steps are filled dots, failing ones rings.
        chart
            .draw_series(sorted.iter().filter_map(|p| {
                let y = to_ms(pick(p)?).max(lo);
                Some(if p.passed {
                    Circle::new((p.rate, y), 5, color.filled())
                } else {
                    Circle::new((p.rate, y), 5, color.stroke_width(2))
                })
            }))
            .map_err(e)?;
        legend.push((label.to_string(), Mark::Dot(color)));
        if let Some(b) = bound {
            let y = to_ms(b);
            chart
                .draw_series(DashedLineSeries::new(vec![(0.0, y), (x_hi, y)], 7, 5, color.stroke_width(1)))
                .map_err(e)?;
            legend.push((format!("{label} bound"), Mark::Dashed(color)));
        }
    }
    legend.push(("failed step".to_string(), Mark::Ring(GREY)));
    draw_legend(&legend_area, 44, &legend)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn helpers() {
        assert_eq!(tick_ms(0.5), "500 µs");
        assert_eq!(tick_ms(2.0), "2 ms");
        assert_eq!(tick_ms(1500.0), "1.5 s");
        assert_eq!(percentile_label(0.0), "0%");
        assert_eq!(percentile_label(1.0), "90%");
        assert_eq!(percentile_label(2.0), "99%");
        assert_eq!(percentile_label(3.0), "99.9%");
        assert_eq!(percentile_label(5.0), "99.999%");
        assert_eq!(percentile_label(2.5), "");
        assert_eq!(log_bounds([3.0, 42.0].into_iter()), (2.0, 100.0));
        assert_eq!(log_bounds(std::iter::empty()), (0.1, 10.0));
        assert_eq!(
            segments(&[(0.0, Some(1.0)), (1.0, None), (2.0, Some(2.0)), (3.0, Some(3.0))]),
            vec![vec![(0.0, 1.0)], vec![(2.0, 2.0), (3.0, 3.0)]]
        );
    }

    #[test]
    fn percentile_curves_stop_where_the_samples_do() {
        let mut h = LatencyHistogram::new();
        for v in 1..=1000u64 {
            h.record_us(v * 10);
        }
        let c = percentile_curve(&h, 5.0);
        let last = c.last().unwrap();
        assert!((last.0 - 3.0).abs() < 1e-9, "1000 samples resolve 3 nines: {last:?}");
        assert!((last.1 - 10.0).abs() < 0.05, "ends at the max, 10 ms: {last:?}");
        assert!(c.windows(2).all(|w| w[0].1 <= w[1].1), "monotonic");
    }
}
