//! Plots shared by every job kind, rendered to PNG and SVG with `plotters`.
//!
//! Four kinds, each a function from a serde-serialisable description to a [`Figure`] (PNG bytes
//! and an SVG document):
//!
//! - [`line_plot`]: several series of y against x joined by lines (score vs iteration);
//! - [`scatter`]: several series of points (normalised decoding accuracy vs score);
//! - [`scatter_log_x`]: the same with a logarithmic x axis (score to capture a PC vs the PC's
//!   explained-variance ratio); points with `x ≤ 0` are left out;
//! - [`heatmap`]: a table of values as coloured cells with their values printed and a colour bar
//!   (score tables).
//!
//! Every plot has a title, axis titles with units ([`Axis`]) and a legend: series names in a panel
//! to the right of the axes (so it never hides data), or the colour bar of a heatmap. Non-finite
//! values are skipped (a line is broken there; a heatmap cell shows "n/a"). The default size is
//! 800 × 500 pixels.
//!
//! Text is drawn with an embedded subset of DejaVu Sans (`fonts/`, with its licence) through
//! plotters' `ab_glyph` feature: rendering needs no fontconfig, freetype or system font, at build
//! or run time. SVG text is emitted as `<text>` elements (font family `sans-serif`), so axis
//! titles and labels stay searchable in the SVG.

use std::sync::OnceLock;

use plotters::coord::Shift;
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};
use plotters::style::{FontStyle, FontTransform, register_font};
use serde::{Deserialize, Serialize};

const FONT_REGULAR: &[u8] = include_bytes!("fonts/DejaVuSans-subset.ttf");
const FONT_BOLD: &[u8] = include_bytes!("fonts/DejaVuSans-Bold-subset.ttf");
const FAMILY: &str = "sans-serif";

/// Default width of a plot in pixels.
pub const DEFAULT_WIDTH: u32 = 800;
/// Default height of a plot in pixels.
pub const DEFAULT_HEIGHT: u32 = 500;

/// Series colours (matplotlib's "tab10").
const PALETTE: [RGBColor; 10] = [
    RGBColor(31, 119, 180),
    RGBColor(255, 127, 14),
    RGBColor(44, 160, 44),
    RGBColor(214, 39, 40),
    RGBColor(148, 103, 189),
    RGBColor(140, 86, 75),
    RGBColor(227, 119, 194),
    RGBColor(127, 127, 127),
    RGBColor(188, 189, 34),
    RGBColor(23, 190, 207),
];

/// An axis title and its unit, shown as "label (unit)" (just "label" when `unit` is empty).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Axis {
    pub label: String,
    pub unit: String,
}

impl Axis {
    pub fn new(label: impl Into<String>, unit: impl Into<String>) -> Self {
        Axis {
            label: label.into(),
            unit: unit.into(),
        }
    }

    /// The text drawn along the axis.
    pub fn title(&self) -> String {
        if self.unit.is_empty() {
            self.label.clone()
        } else {
            format!("{} ({})", self.label, self.unit)
        }
    }
}

/// One named series of points; `x` and `y` have equal lengths.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Series {
    pub name: String,
    pub x: Vec<f64>,
    pub y: Vec<f64>,
}

impl Series {
    pub fn new(name: impl Into<String>, x: Vec<f64>, y: Vec<f64>) -> Self {
        Series {
            name: name.into(),
            x,
            y,
        }
    }
}

/// A line or scatter plot.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct XyPlot {
    pub title: String,
    pub x: Axis,
    pub y: Axis,
    pub series: Vec<Series>,
}

/// A table of values drawn as coloured cells, row 0 at the top.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct HeatmapPlot {
    pub title: String,
    /// What the rows are (drawn along the left side).
    pub rows: Axis,
    /// What the columns are (drawn below).
    pub cols: Axis,
    /// What the values are (the colour bar's title).
    pub value: Axis,
    pub row_names: Vec<String>,
    pub col_names: Vec<String>,
    /// `values[r][c]`; `None` or non-finite cells are drawn grey with "n/a".
    pub values: Vec<Vec<Option<f64>>>,
    /// Colour scale limits; by default the finite values' minimum and maximum.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub range: Option<(f64, f64)>,
}

/// Size of a rendered plot in pixels.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Size {
    pub width: u32,
    pub height: u32,
}

impl Default for Size {
    fn default() -> Self {
        Size {
            width: DEFAULT_WIDTH,
            height: DEFAULT_HEIGHT,
        }
    }
}

/// A rendered plot.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Figure {
    /// The PNG file (8-bit RGB).
    pub png: Vec<u8>,
    /// The SVG document.
    pub svg: String,
}

/// Why a plot could not be drawn.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PlotError {
    #[error("nothing to plot: {0}")]
    NoData(String),
    #[error("inconsistent plot data: {0}")]
    Shape(String),
    #[error("plot size {width}×{height} is outside 200×150 ..= 8000×8000 pixels")]
    Size { width: u32, height: u32 },
    #[error("the embedded font could not be loaded")]
    Font,
    #[error("drawing failed: {0}")]
    Render(String),
    #[error("PNG encoding failed: {0}")]
    Encode(String),
}

fn render_err<E: std::fmt::Debug>(e: E) -> PlotError {
    PlotError::Render(format!("{e:?}"))
}

/// Lines through each series' points in order (points with a non-finite coordinate break the
/// line; a lone point is drawn as a dot).
pub fn line_plot(plot: &XyPlot, size: Size) -> Result<Figure, PlotError> {
    render(
        &XyDraw {
            plot,
            kind: XyKind::Line,
        },
        size,
    )
}

/// Each series' points as dots, on linear axes.
pub fn scatter(plot: &XyPlot, size: Size) -> Result<Figure, PlotError> {
    render(
        &XyDraw {
            plot,
            kind: XyKind::Scatter,
        },
        size,
    )
}

/// Each series' points as dots, with a base-10 logarithmic x axis (points with `x ≤ 0` are left
/// out); the axis spans whole decades.
pub fn scatter_log_x(plot: &XyPlot, size: Size) -> Result<Figure, PlotError> {
    render(
        &XyDraw {
            plot,
            kind: XyKind::ScatterLogX,
        },
        size,
    )
}

/// A heatmap with cell labels and a colour bar.
pub fn heatmap(plot: &HeatmapPlot, size: Size) -> Result<Figure, PlotError> {
    let nr = plot.row_names.len();
    let nc = plot.col_names.len();
    if nr == 0 || nc == 0 {
        return Err(PlotError::NoData(
            "a heatmap needs at least one row and one column".into(),
        ));
    }
    if plot.values.len() != nr || plot.values.iter().any(|r| r.len() != nc) {
        return Err(PlotError::Shape(format!(
            "values must be {nr} rows of {nc} entries (one per row and column name)"
        )));
    }
    render(&HeatmapDraw { plot }, size)
}

fn register_fonts() -> Result<(), PlotError> {
    static OK: OnceLock<bool> = OnceLock::new();
    let ok = *OK.get_or_init(|| {
        register_font(FAMILY, FontStyle::Normal, FONT_REGULAR).is_ok()
            && register_font(FAMILY, FontStyle::Bold, FONT_BOLD).is_ok()
    });
    if ok { Ok(()) } else { Err(PlotError::Font) }
}

/// Something drawable on any plotters backend.
trait Draw {
    fn draw<DB: DrawingBackend>(&self, root: &DrawingArea<DB, Shift>) -> Result<(), PlotError>;
}

fn render(what: &impl Draw, size: Size) -> Result<Figure, PlotError> {
    let Size { width, height } = size;
    if !(200..=8000).contains(&width) || !(150..=8000).contains(&height) {
        return Err(PlotError::Size { width, height });
    }
    register_fonts()?;
    let mut rgb = vec![0u8; width as usize * height as usize * 3];
    {
        let root = BitMapBackend::with_buffer(&mut rgb, (width, height)).into_drawing_area();
        root.fill(&WHITE).map_err(render_err)?;
        what.draw(&root)?;
        root.present().map_err(render_err)?;
    }
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, (width, height)).into_drawing_area();
        root.fill(&WHITE).map_err(render_err)?;
        what.draw(&root)?;
        root.present().map_err(render_err)?;
    }
    Ok(Figure {
        png: encode_png(&rgb, width, height)?,
        svg,
    })
}

fn encode_png(rgb: &[u8], width: u32, height: u32) -> Result<Vec<u8>, PlotError> {
    let mut out = Vec::new();
    {
        let mut enc = png::Encoder::new(&mut out, width, height);
        enc.set_color(png::ColorType::Rgb);
        enc.set_depth(png::BitDepth::Eight);
        let mut w = enc
            .write_header()
            .map_err(|e| PlotError::Encode(e.to_string()))?;
        w.write_image_data(rgb)
            .map_err(|e| PlotError::Encode(e.to_string()))?;
        w.finish().map_err(|e| PlotError::Encode(e.to_string()))?;
    }
    Ok(out)
}

fn font(size: f64) -> TextStyle<'static> {
    (FAMILY, size).into_font().color(&BLACK)
}

fn bold(size: f64) -> TextStyle<'static> {
    (FAMILY, size)
        .into_font()
        .style(FontStyle::Bold)
        .color(&BLACK)
}

/// Draw the title and return the area below it.
fn titled<DB: DrawingBackend>(
    root: &DrawingArea<DB, Shift>,
    title: &str,
) -> Result<DrawingArea<DB, Shift>, PlotError> {
    root.titled(title, bold(20.0)).map_err(render_err)
}

fn text_width<DB: DrawingBackend>(
    area: &DrawingArea<DB, Shift>,
    text: &str,
    style: &TextStyle,
) -> u32 {
    area.estimate_text_size(text, style)
        .map(|(w, _)| w)
        .unwrap_or(text.len() as u32 * 8)
}

/// `text` cut (with "…") to at most `max` pixels.
fn fit_text<DB: DrawingBackend>(
    area: &DrawingArea<DB, Shift>,
    text: &str,
    style: &TextStyle,
    max: u32,
) -> String {
    if text_width(area, text, style) <= max {
        return text.to_string();
    }
    let chars: Vec<char> = text.chars().collect();
    for keep in (1..chars.len()).rev() {
        let t: String = chars[..keep].iter().collect::<String>() + "…";
        if text_width(area, &t, style) <= max {
            return t;
        }
    }
    "…".to_string()
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum XyKind {
    Line,
    Scatter,
    ScatterLogX,
}

struct XyDraw<'a> {
    plot: &'a XyPlot,
    kind: XyKind,
}

/// Runs of consecutive usable points of a series.
fn runs(s: &Series, log_x: bool) -> Vec<Vec<(f64, f64)>> {
    let mut out = vec![];
    let mut cur = vec![];
    for (&x, &y) in s.x.iter().zip(&s.y) {
        if x.is_finite() && y.is_finite() && (!log_x || x > 0.0) {
            cur.push((x, y));
        } else if !cur.is_empty() {
            out.push(std::mem::take(&mut cur));
        }
    }
    if !cur.is_empty() {
        out.push(cur);
    }
    out
}

fn padded(lo: f64, hi: f64) -> (f64, f64) {
    if hi > lo {
        let d = 0.05 * (hi - lo);
        (lo - d, hi + d)
    } else {
        let d = 0.1 * lo.abs().max(1.0);
        (lo - d, hi + d)
    }
}

/// Tick label with as many decimals as the axis span calls for.
fn tick_label(v: f64, span: f64) -> String {
    // About 8 ticks: as many decimals as a tick step of span/8 needs.
    let decimals = if span > 0.0 {
        (-(span / 8.0).log10().floor()).clamp(0.0, 8.0) as usize
    } else {
        2
    };
    let s = format!("{:.*}", decimals, v);
    if s.trim_start_matches('-')
        .chars()
        .all(|c| c == '0' || c == '.')
    {
        format!("{:.*}", decimals, 0.0)
    } else {
        s
    }
}

/// `10ⁿ` with superscript digits for powers of ten, otherwise a short general form.
fn log_tick_label(v: f64) -> String {
    let e = v.log10();
    if (e - e.round()).abs() < 1e-9 {
        let n = e.round() as i64;
        let sup: String = n
            .to_string()
            .chars()
            .map(|c| match c {
                '-' => '⁻',
                '0' => '⁰',
                '1' => '¹',
                '2' => '²',
                '3' => '³',
                '4' => '⁴',
                '5' => '⁵',
                '6' => '⁶',
                '7' => '⁷',
                '8' => '⁸',
                _ => '⁹',
            })
            .collect();
        format!("10{sup}")
    } else {
        format!("{v:.1e}")
    }
}

impl Draw for XyDraw<'_> {
    fn draw<DB: DrawingBackend>(&self, root: &DrawingArea<DB, Shift>) -> Result<(), PlotError> {
        let plot = self.plot;
        let log_x = self.kind == XyKind::ScatterLogX;
        for s in &plot.series {
            if s.x.len() != s.y.len() {
                return Err(PlotError::Shape(format!(
                    "series {:?} has {} x values and {} y values",
                    s.name,
                    s.x.len(),
                    s.y.len()
                )));
            }
        }
        let series_runs: Vec<Vec<Vec<(f64, f64)>>> =
            plot.series.iter().map(|s| runs(s, log_x)).collect();
        let pts = || series_runs.iter().flatten().flatten();
        let (mut x0, mut x1, mut y0, mut y1) = (
            f64::INFINITY,
            f64::NEG_INFINITY,
            f64::INFINITY,
            f64::NEG_INFINITY,
        );
        for &(x, y) in pts() {
            x0 = x0.min(x);
            x1 = x1.max(x);
            y0 = y0.min(y);
            y1 = y1.max(y);
        }
        if !x0.is_finite() {
            return Err(PlotError::NoData(format!(
                "{:?}: no series has a finite point{}",
                plot.title,
                if log_x { " with x > 0" } else { "" }
            )));
        }
        let (y0, y1) = padded(y0, y1);

        let area = titled(root, &plot.title)?;
        let (aw, _) = area.dim_in_pixel();
        let legend_font = font(14.0);
        let longest = plot
            .series
            .iter()
            .map(|s| text_width(&area, &s.name, &legend_font))
            .max()
            .unwrap_or(0);
        let legend_w = (longest + 60).clamp(120, (aw / 3).max(120));
        let (main, legend) = area.split_horizontally(aw.saturating_sub(legend_w));
        let x_title = plot.x.title();
        let y_title = plot.y.title();
        let axis_font = font(16.0);
        let tick_font = font(13.0);

        macro_rules! finish {
            ($chart:ident, $x_fmt:expr) => {{
                $chart
                    .configure_mesh()
                    .light_line_style(RGBColor(235, 235, 235))
                    .bold_line_style(RGBColor(215, 215, 215))
                    .axis_style(RGBColor(90, 90, 90))
                    .x_labels(8)
                    .y_labels(8)
                    .x_label_formatter($x_fmt)
                    .y_label_formatter(&|v: &f64| tick_label(*v, y1 - y0))
                    .x_desc(x_title.as_str())
                    .y_desc(y_title.as_str())
                    .axis_desc_style(axis_font.clone())
                    .label_style(tick_font.clone())
                    .draw()
                    .map_err(render_err)?;
                for (k, runs) in series_runs.iter().enumerate() {
                    let color = PALETTE[k % PALETTE.len()];
                    for run in runs {
                        if self.kind == XyKind::Line && run.len() > 1 {
                            $chart
                                .draw_series(LineSeries::new(
                                    run.iter().copied(),
                                    color.stroke_width(2),
                                ))
                                .map_err(render_err)?;
                        } else {
                            $chart
                                .draw_series(
                                    run.iter()
                                        .map(|&p| Circle::new(p, 4, color.mix(0.85).filled())),
                                )
                                .map_err(render_err)?;
                        }
                    }
                }
            }};
        }

        let mut builder = ChartBuilder::on(&main);
        builder
            .margin_top(12)
            .margin_right(16)
            .margin_left(8)
            .x_label_area_size(52)
            .y_label_area_size(76);
        if log_x {
            let lo = 10f64.powf(x0.log10().floor());
            let mut hi = 10f64.powf(x1.log10().ceil());
            if hi <= lo {
                hi = lo * 10.0;
            }
            let mut chart = builder
                .build_cartesian_2d((lo..hi).log_scale(), y0..y1)
                .map_err(render_err)?;
            finish!(chart, &|v: &f64| log_tick_label(*v));
        } else {
            let (x0, x1) = padded(x0, x1);
            let mut chart = builder
                .build_cartesian_2d(x0..x1, y0..y1)
                .map_err(render_err)?;
            finish!(chart, &|v: &f64| tick_label(*v, x1 - x0));
        }

        // Legend panel.
        let entries: Vec<(String, RGBColor)> = plot
            .series
            .iter()
            .enumerate()
            .map(|(k, s)| {
                (
                    fit_text(&legend, &s.name, &legend_font, legend_w.saturating_sub(52)),
                    PALETTE[k % PALETTE.len()],
                )
            })
            .collect();
        draw_legend(&legend, &entries, self.kind == XyKind::Line)
    }
}

fn draw_legend<DB: DrawingBackend>(
    area: &DrawingArea<DB, Shift>,
    entries: &[(String, RGBColor)],
    lines: bool,
) -> Result<(), PlotError> {
    let (w, h) = area.dim_in_pixel();
    let row = 24i32;
    let top = 14i32;
    let shown = entries
        .len()
        .min(((h as i32 - top - 30) / row).max(1) as usize);
    let box_h = 30 + row * shown as i32;
    let left = 4i32;
    let right = w as i32 - 8;
    area.draw(&Rectangle::new(
        [(left, top), (right, top + box_h)],
        ShapeStyle::from(&RGBColor(200, 200, 200)).stroke_width(1),
    ))
    .map_err(render_err)?;
    area.draw(&Text::new(
        "Legend",
        (left + 10, top + 14),
        bold(13.0).pos(Pos::new(HPos::Left, VPos::Center)),
    ))
    .map_err(render_err)?;
    for (i, (name, color)) in entries.iter().take(shown).enumerate() {
        let y = top + 30 + row * i as i32 + row / 2 - 4;
        let x = left + 10;
        if lines {
            area.draw(&PathElement::new(
                vec![(x, y), (x + 24, y)],
                color.stroke_width(3),
            ))
            .map_err(render_err)?;
        } else {
            area.draw(&Circle::new((x + 12, y), 5, color.filled()))
                .map_err(render_err)?;
        }
        area.draw(&Text::new(
            name.clone(),
            (x + 32, y),
            font(14.0).pos(Pos::new(HPos::Left, VPos::Center)),
        ))
        .map_err(render_err)?;
    }
    if shown < entries.len() {
        let y = top + box_h + 12;
        area.draw(&Text::new(
            format!("+{} more", entries.len() - shown),
            (left + 10, y),
            font(12.0).pos(Pos::new(HPos::Left, VPos::Center)),
        ))
        .map_err(render_err)?;
    }
    Ok(())
}

struct HeatmapDraw<'a> {
    plot: &'a HeatmapPlot,
}

/// Cell text: 2–3 significant decimals for values in a usual range, scientific otherwise.
fn cell_label(v: f64, scale: f64) -> String {
    if scale >= 1e5 || (scale > 0.0 && scale < 1e-3) {
        format!("{v:.2e}")
    } else if scale >= 100.0 {
        format!("{v:.0}")
    } else if scale >= 10.0 {
        format!("{v:.1}")
    } else {
        format!("{v:.2}")
    }
}

/// Dark text on light cells, white on dark ones.
fn text_color_on(c: RGBColor) -> RGBColor {
    let lum = 0.299 * c.0 as f64 + 0.587 * c.1 as f64 + 0.114 * c.2 as f64;
    if lum > 140.0 { BLACK } else { WHITE }
}

impl Draw for HeatmapDraw<'_> {
    fn draw<DB: DrawingBackend>(&self, root: &DrawingArea<DB, Shift>) -> Result<(), PlotError> {
        let plot = self.plot;
        let nr = plot.row_names.len();
        let nc = plot.col_names.len();
        let finite: Vec<f64> = plot
            .values
            .iter()
            .flatten()
            .filter_map(|v| v.filter(|v| v.is_finite()))
            .collect();
        let (vmin, vmax) = match plot.range {
            Some((a, b)) if a.is_finite() && b.is_finite() && b > a => (a, b),
            _ => {
                let lo = finite.iter().copied().fold(f64::INFINITY, f64::min);
                let hi = finite.iter().copied().fold(f64::NEG_INFINITY, f64::max);
                if !lo.is_finite() {
                    (0.0, 1.0)
                } else if hi > lo {
                    (lo, hi)
                } else {
                    (lo - 0.5, hi + 0.5)
                }
            }
        };
        let scale = vmin.abs().max(vmax.abs());

        let area = titled(root, &plot.title)?;
        let (aw, ah) = area.dim_in_pixel();
        let (aw, ah) = (aw as i32, ah as i32);
        let tick_font = font(13.0);
        let axis_font = font(16.0);

        // Horizontal layout: [y title | row names | grid | gap | colour bar | bar ticks | bar title].
        let bar_w = 18;
        let bar_ticks_w = 12
            + (0..=4)
                .map(|i| {
                    let v = vmin + (vmax - vmin) * i as f64 / 4.0;
                    text_width(&area, &cell_label(v, scale), &tick_font) as i32
                })
                .max()
                .unwrap_or(30);
        let right_w = 24 + bar_w + bar_ticks_w + 30;
        let row_name_w = plot
            .row_names
            .iter()
            .map(|s| text_width(&area, s, &tick_font) as i32)
            .max()
            .unwrap_or(0)
            .min(aw / 4);
        let left_w = 30 + row_name_w + 10;
        let grid_x0 = left_w;
        let grid_x1 = aw - right_w;
        let cell_w = ((grid_x1 - grid_x0) as f64 / nc as f64).max(1.0);
        // Vertical layout: [grid | column names | x title].
        let col_name_w = plot
            .col_names
            .iter()
            .map(|s| text_width(&area, s, &tick_font) as i32)
            .max()
            .unwrap_or(0);
        let rotate = col_name_w as f64 > cell_w - 6.0;
        let col_names_h = if rotate {
            (col_name_w + 10).min(ah / 3)
        } else {
            24
        };
        let grid_y0 = 10;
        let grid_y1 = ah - (col_names_h + 32);
        let cell_h = ((grid_y1 - grid_y0) as f64 / nr as f64).max(1.0);
        let cx = |c: f64| grid_x0 + (c * cell_w).round() as i32;
        let cy = |r: f64| grid_y0 + (r * cell_h).round() as i32;

        let cell_font_size = (cell_h * 0.42).min(15.0);
        for (r, row) in plot.values.iter().enumerate() {
            for (c, v) in row.iter().enumerate() {
                let v = v.filter(|v| v.is_finite());
                let fill = match v {
                    Some(v) => ViridisRGB::get_color(((v - vmin) / (vmax - vmin)).clamp(0.0, 1.0)),
                    None => RGBColor(220, 220, 220),
                };
                let (x0, y0, x1, y1) = (
                    cx(c as f64),
                    cy(r as f64),
                    cx(c as f64 + 1.0),
                    cy(r as f64 + 1.0),
                );
                area.draw(&Rectangle::new([(x0, y0), (x1, y1)], fill.filled()))
                    .map_err(render_err)?;
                area.draw(&Rectangle::new([(x0, y0), (x1, y1)], WHITE.stroke_width(1)))
                    .map_err(render_err)?;
                let label = v.map_or_else(|| "n/a".to_string(), |v| cell_label(v, scale));
                let size = cell_font_size.min(cell_w / (label.chars().count() as f64 * 0.62 + 0.5));
                if size >= 8.0 {
                    area.draw(&Text::new(
                        label,
                        ((x0 + x1) / 2, (y0 + y1) / 2),
                        font(size)
                            .color(&text_color_on(fill))
                            .pos(Pos::new(HPos::Center, VPos::Center)),
                    ))
                    .map_err(render_err)?;
                }
            }
        }
        area.draw(&Rectangle::new(
            [
                (grid_x0, grid_y0),
                (grid_x1.min(cx(nc as f64)), cy(nr as f64)),
            ],
            RGBColor(90, 90, 90).stroke_width(1),
        ))
        .map_err(render_err)?;

        // Row names, right-aligned against the grid.
        for (r, name) in plot.row_names.iter().enumerate() {
            let name = fit_text(&area, name, &tick_font, row_name_w as u32);
            area.draw(&Text::new(
                name,
                (grid_x0 - 8, (cy(r as f64) + cy(r as f64 + 1.0)) / 2),
                tick_font.pos(Pos::new(HPos::Right, VPos::Center)),
            ))
            .map_err(render_err)?;
        }
        // Column names, below the grid (vertical when they do not fit the cell width).
        for (c, name) in plot.col_names.iter().enumerate() {
            let x = (cx(c as f64) + cx(c as f64 + 1.0)) / 2;
            if rotate {
                let name = fit_text(&area, name, &tick_font, (col_names_h - 10) as u32);
                area.draw(&Text::new(
                    name,
                    (x, cy(nr as f64) + 6),
                    tick_font
                        .transform(FontTransform::Rotate270)
                        .pos(Pos::new(HPos::Right, VPos::Center)),
                ))
                .map_err(render_err)?;
            } else {
                area.draw(&Text::new(
                    name.clone(),
                    (x, cy(nr as f64) + 6),
                    tick_font.pos(Pos::new(HPos::Center, VPos::Top)),
                ))
                .map_err(render_err)?;
            }
        }
        // Axis titles.
        area.draw(&Text::new(
            plot.cols.title(),
            ((grid_x0 + grid_x1) / 2, ah - 14),
            axis_font.pos(Pos::new(HPos::Center, VPos::Center)),
        ))
        .map_err(render_err)?;
        area.draw(&Text::new(
            plot.rows.title(),
            (12, (grid_y0 + grid_y1) / 2),
            axis_font
                .transform(FontTransform::Rotate270)
                .pos(Pos::new(HPos::Center, VPos::Center)),
        ))
        .map_err(render_err)?;

        // Colour bar with five ticks and its title.
        let bx0 = grid_x1 + 24;
        let bx1 = bx0 + bar_w;
        let steps = 100;
        for i in 0..steps {
            let t0 = i as f64 / steps as f64;
            let t1 = (i + 1) as f64 / steps as f64;
            let y_top = grid_y1 - ((grid_y1 - grid_y0) as f64 * t1).round() as i32;
            let y_bot = grid_y1 - ((grid_y1 - grid_y0) as f64 * t0).round() as i32;
            area.draw(&Rectangle::new(
                [(bx0, y_top), (bx1, y_bot)],
                ViridisRGB::get_color((t0 + t1) / 2.0).filled(),
            ))
            .map_err(render_err)?;
        }
        area.draw(&Rectangle::new(
            [(bx0, grid_y0), (bx1, grid_y1)],
            RGBColor(90, 90, 90).stroke_width(1),
        ))
        .map_err(render_err)?;
        for i in 0..=4 {
            let t = i as f64 / 4.0;
            let y = grid_y1 - ((grid_y1 - grid_y0) as f64 * t).round() as i32;
            area.draw(&PathElement::new(
                vec![(bx1, y), (bx1 + 5, y)],
                RGBColor(90, 90, 90),
            ))
            .map_err(render_err)?;
            area.draw(&Text::new(
                cell_label(vmin + (vmax - vmin) * t, scale),
                (bx1 + 8, y),
                tick_font.pos(Pos::new(HPos::Left, VPos::Center)),
            ))
            .map_err(render_err)?;
        }
        area.draw(&Text::new(
            plot.value.title(),
            (aw - 12, (grid_y0 + grid_y1) / 2),
            axis_font
                .transform(FontTransform::Rotate90)
                .pos(Pos::new(HPos::Center, VPos::Center)),
        ))
        .map_err(render_err)?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn labels_format_sensibly() {
        assert_eq!(tick_label(0.30000000000000004, 1.0), "0.3");
        assert_eq!(tick_label(-0.0, 1.0), "0.0");
        assert_eq!(tick_label(250.0, 1000.0), "250");
        assert_eq!(log_tick_label(1e-3), "10⁻³");
        assert_eq!(log_tick_label(1.0), "10⁰");
        assert_eq!(cell_label(0.87654, 1.0), "0.88");
        assert_eq!(Axis::new("Score", "").title(), "Score");
        assert_eq!(Axis::new("Iteration", "steps").title(), "Iteration (steps)");
    }

    #[test]
    fn fonts_register() {
        register_fonts().unwrap();
    }
}
