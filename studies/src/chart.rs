//! The studies' two kinds of chart, drawn with plotters' SVG backend: dots
//! with their 95% interval on a horizontal axis (one row per group, one dot
//! per series), and lines with interval bars over a log-2 horizontal axis.
//! Every seed's own value is drawn too, as a small hollow circle, so a
//! reader sees how many runs stand behind a point.
//!
//! Text is written as SVG `<text>` and laid out with plotters' built-in size
//! estimate, so no font file is read. Plotters writes no `<title>` elements,
//! so a dot no longer shows its figure on hover: the tables have them.

use std::ops::Range;

use plotters::coord::ranged1d::{DefaultFormatting, KeyPointHint};
use plotters::coord::types::RangedCoordf64;
use plotters::coord::Shift;
use plotters::element::DashedPathElement;
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};

const COLOURS: [RGBColor; 6] = [
    RGBColor(0x1f, 0x77, 0xb4),
    RGBColor(0xd6, 0x27, 0x28),
    RGBColor(0x2c, 0xa0, 0x2c),
    RGBColor(0x94, 0x67, 0xbd),
    RGBColor(0xff, 0x7f, 0x0e),
    RGBColor(0x17, 0xbe, 0xcf),
];
const WIDTH: u32 = 820;
/// Height of the strip above the chart holding the title and the legend.
const TOP: u32 = 60;
const RIGHT: u32 = 30;
const GRID: RGBColor = RGBColor(0xdd, 0xdd, 0xdd);
const SEPARATOR: RGBColor = RGBColor(0xee, 0xee, 0xee);
const REFERENCE: RGBColor = RGBColor(0x55, 0x55, 0x55);

/// A mean, the half-width of its interval and the values it is the mean of.
#[derive(Clone, Debug)]
pub struct Point {
    /// The figure drawn as a filled dot.
    pub mean: f64,
    /// Half-width of the bar around it (0: no bar).
    pub half: f64,
    /// The individual values (seeds), drawn as hollow circles.
    pub seeds: Vec<f64>,
}

impl Point {
    /// The lowest and highest values drawn.
    fn extent(&self) -> [f64; 2] {
        let lo = self
            .seeds
            .iter()
            .copied()
            .fold(self.mean - self.half, f64::min);
        let hi = self
            .seeds
            .iter()
            .copied()
            .fold(self.mean + self.half, f64::max);
        [lo, hi]
    }
}

/// A line's points: `(x, point)`.
pub type LinePoints = Vec<(f64, Point)>;

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
    /// Series name and its `(x, point)` points.
    pub series: Vec<(String, LinePoints)>,
    /// A labelled horizontal line.
    pub reference: Option<(String, f64)>,
}

type Area<'a> = DrawingArea<SVGBackend<'a>, Shift>;
type Drawn = Result<(), DrawingAreaErrorKind<std::io::Error>>;

/// A text style of `px` pixels (plotters writes `font-size` as its size / 1.24).
fn font(px: f64) -> TextStyle<'static> {
    ("sans-serif", px * 1.24).into_font().into()
}

fn colour(i: usize) -> RGBColor {
    COLOURS[i % COLOURS.len()]
}

fn tick_label(v: f64) -> String {
    if v != 0.0 && (v.abs() < 0.01 || v.abs() >= 1e4) {
        format!("{v:.0e}")
    } else {
        let s = format!("{v:.3}");
        s.trim_end_matches('0').trim_end_matches('.').to_string()
    }
}

/// One axis with the ticks we choose. Plotters' own `with_key_points` cannot
/// be used: it drops the label formatter that `configure_mesh` needs.
struct Scale {
    range: Range<f64>,
    /// Values are placed by their logarithm in this base.
    log_base: Option<f64>,
    ticks: Vec<f64>,
}

impl Scale {
    /// The finite values (positive ones when `log`) and their extent (0 to 1 if none).
    fn extent(values: &[f64], log: bool) -> (f64, f64) {
        let (lo, hi) = values
            .iter()
            .filter(|v| v.is_finite() && (!log || **v > 0.0))
            .fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), &v| {
                (lo.min(v), hi.max(v))
            });
        if lo.is_finite() {
            (lo, hi)
        } else if log {
            (1.0, 10.0)
        } else {
            (0.0, 1.0)
        }
    }

    /// A linear axis 8% wider than `values`, with plotters' round ticks.
    fn linear(values: &[f64]) -> Self {
        let (lo, hi) = Self::extent(values, false);
        let pad = ((hi - lo) * 0.08).max(0.005);
        let range = lo - pad..hi + pad;
        let ticks = RangedCoordf64::from(range.clone()).key_points(8);
        Self {
            range,
            log_base: None,
            ticks,
        }
    }

    /// A log-10 axis from the power of ten below `values` to the one above,
    /// ticked at each (and at 2 and 5 times each when it spans two decades or less).
    fn decades(values: &[f64]) -> Self {
        let (lo, hi) = Self::extent(values, true);
        let lo = lo.log10().floor();
        let hi = hi.log10().ceil().max(lo + 1.0);
        let mantissas: &[f64] = if hi - lo <= 2.0 {
            &[1.0, 2.0, 5.0]
        } else {
            &[1.0]
        };
        Self::log(10.0, lo, hi, mantissas)
    }

    /// A log-2 axis 8% wider than `values` (in exponents), ticked at powers of two.
    fn powers_of_two(values: &[f64]) -> Self {
        let (lo, hi) = Self::extent(values, true);
        let (lo, hi) = (lo.log2(), hi.log2());
        let pad = ((hi - lo) * 0.08).max(0.25);
        Self::log(2.0, lo - pad, hi + pad, &[1.0])
    }

    /// A log axis over exponents `lo..hi` of `base`, ticked at `mantissas`
    /// times each whole power.
    fn log(base: f64, lo: f64, hi: f64, mantissas: &[f64]) -> Self {
        let inside = |v: &f64| (lo - 1e-9..=hi + 1e-9).contains(&v.log(base));
        let ticks = (lo.floor() as i32..=hi.floor() as i32)
            .flat_map(|e| mantissas.iter().map(move |m| m * base.powi(e)))
            .filter(inside)
            .collect();
        Self {
            range: base.powf(lo)..base.powf(hi),
            log_base: Some(base),
            ticks,
        }
    }
}

impl Ranged for Scale {
    type FormatOption = DefaultFormatting;
    type ValueType = f64;

    fn map(&self, v: &f64, (from, to): (i32, i32)) -> i32 {
        let f = |v: f64| match self.log_base {
            Some(b) => v.max(f64::MIN_POSITIVE).log(b),
            None => v,
        };
        let (lo, hi) = (f(self.range.start), f(self.range.end));
        // Clamped, so a bar running off the axis ends at its edge.
        let t = ((f(*v) - lo) / (hi - lo)).clamp(0.0, 1.0);
        from + (t * f64::from(to - from)).round() as i32
    }

    /// Our ticks as the bold (labelled, gridded) points, and no light ones.
    fn key_points<H: KeyPointHint>(&self, hint: H) -> Vec<f64> {
        if hint.weight().allow_light_points() {
            Vec::new()
        } else {
            self.ticks.clone()
        }
    }

    fn range(&self) -> Range<f64> {
        self.range.clone()
    }
}

/// Draws an SVG `WIDTH` by `height` (plus a row for every legend row past
/// the first): the title and a legend of `names` starting at `left` in the
/// top strip, then `draw` on the area below.
fn render(
    height: u32,
    title: &str,
    names: &[String],
    left: i32,
    draw: impl FnOnce(&Area) -> Drawn,
) -> String {
    let places = legend(names, left);
    let extra = places.last().map_or(0, |p| (p.1 - LEGEND_Y) as u32);
    let mut out = String::new();
    {
        let size = (WIDTH, height + extra);
        let root = SVGBackend::with_string(&mut out, size).into_drawing_area();
        let (top, below) = root.split_vertically(TOP + extra);
        let drawn = root
            .fill(&WHITE)
            .and_then(|()| header(&top, title, names, &places))
            .and_then(|()| draw(&below))
            .and_then(|()| root.present());
        // Plotters' SVG backend fails only on file I/O, and this one writes to a string.
        drawn.expect("drawing an SVG into a string");
    }
    out.push('\n');
    out
}

/// Height of the first legend row, and the step to the next.
const LEGEND_Y: i32 = 42;
const LEGEND_ROW: i32 = 18;

/// Where each legend entry goes: left to right from `left`, on a new row
/// when the next would pass the right edge.
fn legend(names: &[String], left: i32) -> Vec<(i32, i32)> {
    let (mut x, mut y) = (left, LEGEND_Y);
    let mut out = Vec::new();
    for name in names {
        let width = 24 + 7 * name.chars().count() as i32;
        if x > left && x + width > (WIDTH - RIGHT) as i32 {
            (x, y) = (left, y + LEGEND_ROW);
        }
        out.push((x, y));
        x += width;
    }
    out
}

fn header(top: &Area, title: &str, names: &[String], places: &[(i32, i32)]) -> Drawn {
    let centre = Pos::new(HPos::Center, VPos::Center);
    let (x, y) = (WIDTH as i32 / 2, 22);
    top.draw(&Text::new(title, (x, y), font(16.0).pos(centre)))?;
    for (i, (name, &(x, y))) in names.iter().zip(places).enumerate() {
        top.draw(&Circle::new((x, y), 5, colour(i).filled()))?;
        let start = font(12.0).pos(Pos::new(HPos::Left, VPos::Center));
        top.draw(&Text::new(name.as_str(), (x + 9, y), start))?;
    }
    Ok(())
}

/// Renders a dot chart.
pub fn dots(chart: &Dots) -> String {
    let group_h = 14 * chart.series.len() as u32 + 12;
    let height = TOP + group_h * chart.groups.len() as u32 + 50;
    let longest = chart.groups.iter().map(|g| g.0.chars().count()).max();
    let left = (30 + 7 * longest.unwrap_or(0) as u32).clamp(120, WIDTH / 2);
    let values: Vec<f64> = chart
        .groups
        .iter()
        .flat_map(|(_, v)| v.iter().flatten())
        .flat_map(Point::extent)
        .collect();
    let x = match chart.log {
        true => Scale::decades(&values),
        false => Scale::linear(&values),
    };
    render(height, &chart.title, &chart.series, left as i32, |area| {
        dot_rows(area, chart, x, left)
    })
}

/// The rows of a dot chart: group `g` is the band `n - g - 1..n - g` of the
/// vertical axis (the first on top), its series spread evenly inside it.
fn dot_rows(area: &Area, chart: &Dots, x: Scale, left: u32) -> Drawn {
    let n = chart.groups.len();
    let rows = Scale {
        range: 0.0..n as f64,
        log_base: None,
        ticks: (0..n).map(|g| (n - g) as f64 - 0.5).collect(),
    };
    let label = |v: &f64| {
        let g = (n as f64 - 0.5 - v).round() as usize;
        chart.groups.get(g).map_or(String::new(), |g| g.0.clone())
    };
    let (lo, hi) = (x.range.start, x.range.end);
    let mut plot = ChartBuilder::on(area)
        .margin_right(RIGHT)
        .x_label_area_size(50)
        .y_label_area_size(left)
        .build_cartesian_2d(x, rows)?;
    plot.configure_mesh()
        .disable_y_mesh()
        .bold_line_style(GRID)
        .x_label_formatter(&|v| tick_label(*v))
        .y_label_formatter(&label)
        .x_desc(chart.axis.as_str())
        .label_style(font(12.0))
        .axis_desc_style(font(12.0))
        .draw()?;
    let between = (1..n).map(|g| PathElement::new([(lo, g as f64), (hi, g as f64)], SEPARATOR));
    plot.draw_series(between)?;
    let per_group = chart.series.len() as f64 + 1.0;
    for (g, (_, values)) in chart.groups.iter().enumerate() {
        for (s, value) in values.iter().enumerate() {
            let Some(p) = value else { continue };
            let y = (n - g) as f64 - (s as f64 + 1.0) / per_group;
            let c = colour(s);
            let bar = [(p.mean - p.half, y), (p.mean + p.half, y)];
            plot.draw_series([PathElement::new(bar, c.stroke_width(2))])?;
            plot.draw_series([Circle::new((p.mean, y), 4, c.filled())])?;
            let seeds = p
                .seeds
                .iter()
                .map(|&v| Circle::new((v, y), 3, c.stroke_width(1)));
            plot.draw_series(seeds)?;
        }
    }
    Ok(())
}

/// Renders a line chart.
pub fn lines(chart: &Lines) -> String {
    let xs: Vec<f64> = chart
        .series
        .iter()
        .flat_map(|(_, p)| p.iter().map(|q| q.0))
        .collect();
    let ys: Vec<f64> = chart
        .series
        .iter()
        .flat_map(|(_, p)| p.iter().flat_map(|q| q.1.extent()))
        .chain(chart.reference.iter().map(|r| r.1))
        .collect();
    let names: Vec<String> = chart.series.iter().map(|s| s.0.clone()).collect();
    let (x, y) = (Scale::powers_of_two(&xs), Scale::linear(&ys));
    render(430, &chart.title, &names, 80, |area| {
        line_plot(area, chart, x, y)
    })
}

fn line_plot(area: &Area, chart: &Lines, x: Scale, y: Scale) -> Drawn {
    let (lo, hi) = (x.range.start, x.range.end);
    let mut plot = ChartBuilder::on(area)
        .margin_right(RIGHT)
        .x_label_area_size(50)
        .y_label_area_size(80)
        .build_cartesian_2d(x, y)?;
    plot.configure_mesh()
        .bold_line_style(GRID)
        .x_label_formatter(&|v| tick_label(*v))
        .y_label_formatter(&|v| tick_label(*v))
        .x_desc(chart.x_axis.as_str())
        .y_desc(chart.y_axis.as_str())
        .label_style(font(12.0))
        .axis_desc_style(font(12.0))
        .draw()?;
    if let Some((label, value)) = &chart.reference {
        let line = [(lo, *value), (hi, *value)];
        plot.draw_series([DashedPathElement::new(line, 6, 4, REFERENCE)])?;
        let end = font(12.0)
            .color(&REFERENCE)
            .pos(Pos::new(HPos::Right, VPos::Bottom));
        plot.draw_series([
            EmptyElement::at((hi, *value)) + Text::new(label.clone(), (-4, -4), end)
        ])?;
    }
    for (s, (_, points)) in chart.series.iter().enumerate() {
        let c = colour(s);
        let means = points.iter().map(|(x, p)| (*x, p.mean));
        plot.draw_series([PathElement::new(
            means.collect::<Vec<_>>(),
            c.stroke_width(2),
        )])?;
        let bars = points
            .iter()
            .map(|(x, p)| PathElement::new([(*x, p.mean - p.half), (*x, p.mean + p.half)], c));
        plot.draw_series(bars)?;
        plot.draw_series(
            points
                .iter()
                .map(|(x, p)| Circle::new((*x, p.mean), 4, c.filled())),
        )?;
        let seeds = points.iter().flat_map(|(x, p)| {
            p.seeds
                .iter()
                .map(move |&v| Circle::new((*x, v), 3, c.stroke_width(1)))
        });
        plot.draw_series(seeds)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_legend_too_wide_for_one_row_wraps() {
        let names = |n: usize| vec!["sentiment, adapter of 3 layers".to_string(); n];
        let rows = |places: &[(i32, i32)]| places.iter().map(|p| p.1).max().unwrap();
        assert_eq!(rows(&legend(&names(2), 70)), LEGEND_Y);
        let wrapped = legend(&names(6), 70);
        assert!(rows(&wrapped) > LEGEND_Y);
        assert!(wrapped
            .iter()
            .all(|&(x, _)| x + 24 + 7 * 30 <= (WIDTH - RIGHT) as i32));
    }
}
