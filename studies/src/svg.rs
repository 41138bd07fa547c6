//! Two kinds of hand-written SVG chart: dots with ± one standard deviation
//! on a horizontal axis (one row per group, one dot per series), and lines
//! with error bars over a log-2 horizontal axis.

use std::fmt::Write;

const COLOURS: [&str; 6] = [
    "#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#17becf",
];
const WIDTH: f64 = 820.0;
const RIGHT: f64 = 30.0;
const FONT: &str = "font-family=\"sans-serif\" font-size=\"12\"";

/// A mean and a standard deviation.
pub type Point = (f64, f64);

/// A line's points: `(x, mean, std)`.
pub type LinePoints = Vec<(f64, f64, f64)>;

/// Rows of dots: `groups[g].1[s]` is series `s` in group `g`.
pub struct Dots {
    /// Title over the chart.
    pub title: String,
    /// Label of the horizontal axis.
    pub axis: String,
    /// Series names, in legend order.
    pub series: Vec<String>,
    /// Group label and one value (or none) per series.
    pub groups: Vec<(String, Vec<Option<Point>>)>,
    /// Log-10 axis (for times spanning decades).
    pub log: bool,
}

/// Lines over a log-2 horizontal axis, with an optional horizontal reference line.
pub struct Lines {
    /// Title over the chart.
    pub title: String,
    /// Label of the horizontal axis.
    pub x_axis: String,
    /// Label of the vertical axis.
    pub y_axis: String,
    /// Series name and its `(x, mean, std)` points.
    pub series: Vec<(String, LinePoints)>,
    /// A labelled horizontal line.
    pub reference: Option<(String, f64)>,
}

fn escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

/// About five round tick values covering `[lo, hi]`.
fn ticks(lo: f64, hi: f64) -> Vec<f64> {
    let span = (hi - lo).max(1e-9);
    let raw = span / 5.0;
    let magnitude = 10f64.powf(raw.log10().floor());
    let step = [1.0, 2.0, 2.5, 5.0, 10.0]
        .iter()
        .map(|m| m * magnitude)
        .find(|s| span / s <= 6.0)
        .unwrap_or(magnitude * 10.0);
    let mut out = Vec::new();
    let mut v = (lo / step).floor() * step;
    while v <= hi + step * 1e-9 {
        if v >= lo - step * 1e-9 {
            out.push(v);
        }
        v += step;
    }
    out
}

fn tick_label(v: f64) -> String {
    if v != 0.0 && (v.abs() < 0.01 || v.abs() >= 1e4) {
        format!("{v:.0e}")
    } else {
        let s = format!("{v:.3}");
        s.trim_end_matches('0').trim_end_matches('.').to_string()
    }
}

/// A horizontal axis mapping values in `[lo, hi]` (log-10 when `log`) to pixels.
struct Axis {
    lo: f64,
    hi: f64,
    log: bool,
    x0: f64,
    x1: f64,
}

impl Axis {
    fn new(values: impl Iterator<Item = f64>, log: bool, x0: f64, x1: f64) -> Self {
        let (mut lo, mut hi) = (f64::INFINITY, f64::NEG_INFINITY);
        for v in values.filter(|v| v.is_finite() && (!log || *v > 0.0)) {
            lo = lo.min(v);
            hi = hi.max(v);
        }
        if !lo.is_finite() {
            (lo, hi) = (0.0, 1.0);
        }
        if log {
            (lo, hi) = (
                10f64.powf(lo.log10().floor()),
                10f64.powf(hi.log10().ceil()),
            );
            if lo == hi {
                hi = lo * 10.0;
            }
        } else {
            let pad = ((hi - lo) * 0.08).max(0.005);
            let t = ticks(lo - pad, hi + pad);
            lo = t.first().copied().unwrap_or(lo - pad).min(lo - pad);
            hi = t.last().copied().unwrap_or(hi + pad).max(hi + pad);
        }
        Self {
            lo,
            hi,
            log,
            x0,
            x1,
        }
    }

    fn at(&self, v: f64) -> f64 {
        let f = |v: f64| if self.log { v.max(1e-12).log10() } else { v };
        let t = (f(v) - f(self.lo)) / (f(self.hi) - f(self.lo));
        self.x0 + t.clamp(0.0, 1.0) * (self.x1 - self.x0)
    }

    fn ticks(&self) -> Vec<f64> {
        if self.log {
            let mut out = Vec::new();
            let mut v = self.lo;
            while v <= self.hi * 1.0001 {
                out.push(v);
                v *= 10.0;
            }
            out
        } else {
            ticks(self.lo, self.hi)
        }
    }
}

fn header(out: &mut String, height: f64, title: &str) {
    let _ = write!(
        out,
        "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{WIDTH}\" height=\"{height}\" \
         viewBox=\"0 0 {WIDTH} {height}\" {FONT}>\n<rect width=\"100%\" height=\"100%\" fill=\"white\"/>\n\
         <text x=\"{}\" y=\"22\" font-size=\"15\" text-anchor=\"middle\">{}</text>\n",
        WIDTH / 2.0,
        escape(title)
    );
}

/// A vertical grid line at `x` from `top` to `bottom`, labelled under the axis.
fn x_gridline(out: &mut String, x: f64, top: f64, bottom: f64, label: impl std::fmt::Display) {
    let _ = writeln!(
        out,
        "<line x1=\"{x}\" y1=\"{top}\" x2=\"{x}\" y2=\"{bottom}\" stroke=\"#ddd\"/>\
         <text x=\"{x}\" y=\"{}\" text-anchor=\"middle\">{label}</text>",
        bottom + 16.0
    );
}

fn legend(out: &mut String, names: &[String], x0: f64, y: f64) {
    let mut x = x0;
    for (i, name) in names.iter().enumerate() {
        let c = COLOURS[i % COLOURS.len()];
        let _ = writeln!(
            out,
            "<circle cx=\"{x}\" cy=\"{y}\" r=\"5\" fill=\"{c}\"/><text x=\"{}\" y=\"{}\">{}</text>",
            x + 9.0,
            y + 4.0,
            escape(name)
        );
        x += 24.0 + 7.0 * name.len() as f64;
    }
}

/// Renders a dot chart.
pub fn dots(chart: &Dots) -> String {
    let per_series = 14.0;
    let group_h = per_series * chart.series.len() as f64 + 12.0;
    let top = 60.0;
    let height = top + group_h * chart.groups.len() as f64 + 50.0;
    let values = chart.groups.iter().flat_map(|(_, v)| {
        v.iter()
            .flatten()
            .flat_map(|(m, s)| [m - s, m + s, *m])
            .collect::<Vec<_>>()
    });
    let longest = chart.groups.iter().map(|g| g.0.chars().count()).max();
    let left = (30.0 + 7.0 * longest.unwrap_or(0) as f64).clamp(120.0, WIDTH / 2.0);
    let axis = Axis::new(values, chart.log, left, WIDTH - RIGHT);
    let mut out = String::new();
    header(&mut out, height, &chart.title);
    legend(&mut out, &chart.series, left, 42.0);
    let bottom = top + group_h * chart.groups.len() as f64;
    for t in axis.ticks() {
        x_gridline(&mut out, axis.at(t), top, bottom, tick_label(t));
    }
    let _ = writeln!(
        out,
        "<text x=\"{}\" y=\"{}\" text-anchor=\"middle\">{}</text>",
        (left + WIDTH - RIGHT) / 2.0,
        bottom + 38.0,
        escape(&chart.axis)
    );
    for (g, (label, values)) in chart.groups.iter().enumerate() {
        let y0 = top + g as f64 * group_h;
        let _ = writeln!(
            out,
            "<text x=\"{}\" y=\"{}\" text-anchor=\"end\">{}</text>",
            left - 10.0,
            y0 + group_h / 2.0 + 4.0,
            escape(label)
        );
        for (s, value) in values.iter().enumerate() {
            let Some((mean, std)) = value else { continue };
            let y = y0 + 6.0 + per_series * (s as f64 + 0.5);
            let c = COLOURS[s % COLOURS.len()];
            let (a, b) = (axis.at(mean - std), axis.at(mean + std));
            let _ = writeln!(
                out,
                "<line x1=\"{a:.1}\" y1=\"{y}\" x2=\"{b:.1}\" y2=\"{y}\" stroke=\"{c}\" stroke-width=\"2\"/>\
                 <circle cx=\"{:.1}\" cy=\"{y}\" r=\"4.5\" fill=\"{c}\"><title>{mean:.4} ± {std:.4}</title></circle>",
                axis.at(*mean)
            );
        }
        if g > 0 {
            let _ = writeln!(
                out,
                "<line x1=\"10\" y1=\"{y0}\" x2=\"{}\" y2=\"{y0}\" stroke=\"#eee\"/>",
                WIDTH - RIGHT
            );
        }
    }
    out.push_str("</svg>\n");
    out
}

/// Renders a line chart.
pub fn lines(chart: &Lines) -> String {
    let (top, bottom, left) = (60.0, 380.0, 80.0);
    let height = bottom + 50.0;
    let xs = chart.series.iter().flat_map(|(_, p)| p.iter().map(|q| q.0));
    let x_axis = Axis::new(xs.map(f64::log2), false, left, WIDTH - RIGHT);
    let ys = chart
        .series
        .iter()
        .flat_map(|(_, p)| p.iter().flat_map(|q| [q.1 - q.2, q.1 + q.2]))
        .chain(chart.reference.iter().map(|r| r.1));
    let y_axis = Axis::new(ys, false, bottom, top);
    let mut out = String::new();
    header(&mut out, height, &chart.title);
    let names: Vec<String> = chart.series.iter().map(|s| s.0.clone()).collect();
    legend(&mut out, &names, left, 42.0);
    for t in x_axis.ticks() {
        if t.fract() != 0.0 {
            continue;
        }
        x_gridline(&mut out, x_axis.at(t), top, bottom, 2f64.powf(t).round());
    }
    for t in y_axis.ticks() {
        let y = y_axis.at(t);
        let _ = writeln!(
            out,
            "<line x1=\"{left}\" y1=\"{y}\" x2=\"{}\" y2=\"{y}\" stroke=\"#ddd\"/>\
             <text x=\"{}\" y=\"{}\" text-anchor=\"end\">{}</text>",
            WIDTH - RIGHT,
            left - 6.0,
            y + 4.0,
            tick_label(t)
        );
    }
    let _ = writeln!(
        out,
        "<text x=\"{}\" y=\"{}\" text-anchor=\"middle\">{}</text>\
         <text x=\"18\" y=\"{}\" text-anchor=\"middle\" transform=\"rotate(-90 18 {})\">{}</text>",
        (left + WIDTH - RIGHT) / 2.0,
        bottom + 38.0,
        escape(&chart.x_axis),
        (top + bottom) / 2.0,
        (top + bottom) / 2.0,
        escape(&chart.y_axis)
    );
    if let Some((label, value)) = &chart.reference {
        let y = y_axis.at(*value);
        let _ = writeln!(
            out,
            "<line x1=\"{left}\" y1=\"{y}\" x2=\"{}\" y2=\"{y}\" stroke=\"#555\" stroke-dasharray=\"6 4\"/>\
             <text x=\"{}\" y=\"{}\" text-anchor=\"end\" fill=\"#555\">{}</text>",
            WIDTH - RIGHT,
            WIDTH - RIGHT - 4.0,
            y - 6.0,
            escape(label)
        );
    }
    for (s, (_, points)) in chart.series.iter().enumerate() {
        let c = COLOURS[s % COLOURS.len()];
        let path: Vec<String> = points
            .iter()
            .map(|(x, m, _)| format!("{:.1},{:.1}", x_axis.at(x.log2()), y_axis.at(*m)))
            .collect();
        let _ = writeln!(
            out,
            "<polyline points=\"{}\" fill=\"none\" stroke=\"{c}\" stroke-width=\"2\"/>",
            path.join(" ")
        );
        for (x, m, sd) in points {
            let px = x_axis.at(x.log2());
            let _ = writeln!(
                out,
                "<line x1=\"{px:.1}\" y1=\"{:.1}\" x2=\"{px:.1}\" y2=\"{:.1}\" stroke=\"{c}\"/>\
                 <circle cx=\"{px:.1}\" cy=\"{:.1}\" r=\"4\" fill=\"{c}\"><title>{x}: {m:.4} ± {sd:.4}</title></circle>",
                y_axis.at(m - sd),
                y_axis.at(m + sd),
                y_axis.at(*m)
            );
        }
    }
    out.push_str("</svg>\n");
    out
}
