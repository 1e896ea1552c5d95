//! The shared plots: every kind renders a valid PNG of the requested size and an SVG carrying its
//! title, axis titles and legend entries. The files are also written to
//! `$TMPDIR/simscore-plots/` for looking at.

use simscore_core::plots::{
    self, Axis, Figure, HeatmapPlot, PlotError, Series, Size, XyPlot, heatmap, line_plot, scatter,
    scatter_log_x,
};

/// Width and height from the PNG's IHDR chunk, after checking the signature.
fn png_size(png: &[u8]) -> (u32, u32) {
    assert_eq!(&png[..8], b"\x89PNG\r\n\x1a\n", "PNG signature");
    assert_eq!(&png[12..16], b"IHDR", "first chunk is IHDR");
    let w = u32::from_be_bytes(png[16..20].try_into().unwrap());
    let h = u32::from_be_bytes(png[20..24].try_into().unwrap());
    assert_eq!(
        &png[png.len() - 8..png.len() - 4],
        b"IEND",
        "last chunk is IEND"
    );
    (w, h)
}

fn save(name: &str, fig: &Figure) {
    let dir = std::env::temp_dir().join("simscore-plots");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join(format!("{name}.png")), &fig.png).unwrap();
    std::fs::write(dir.join(format!("{name}.svg")), &fig.svg).unwrap();
}

fn check(name: &str, fig: &Figure, size: Size, texts: &[&str]) {
    assert_eq!(png_size(&fig.png), (size.width, size.height), "{name}");
    assert!(fig.svg.starts_with("<svg"), "{name}: SVG document");
    for t in texts {
        let escaped = t
            .replace('&', "&amp;")
            .replace('<', "&lt;")
            .replace('>', "&gt;");
        assert!(fig.svg.contains(&escaped), "{name}: SVG lacks {t:?}");
    }
    save(name, fig);
}

fn trajectory(rate: f64, n: usize) -> Vec<f64> {
    (0..n)
        .map(|i| 1.0 - (-(i as f64) / rate).exp() * 0.9)
        .collect()
}

#[test]
fn line_plot_renders() {
    let x: Vec<f64> = (0..200).map(|i| i as f64).collect();
    let mut broken = trajectory(30.0, 200);
    broken[120] = f64::NAN;
    let plot = XyPlot {
        title: "Score during optimisation".into(),
        x: Axis::new("Iteration", "steps"),
        y: Axis::new("Score", "unitless"),
        series: vec![
            Series::new("cka", x.clone(), trajectory(15.0, 200)),
            Series::new("procrustes-angular-score", x.clone(), trajectory(60.0, 200)),
            Series::new(
                "nbs (one missing point)",
                x,
                broken.iter().map(|v| v * 0.9).collect(),
            ),
        ],
    };
    let size = Size::default();
    let fig = line_plot(&plot, size).unwrap();
    check(
        "line",
        &fig,
        size,
        &[
            "Score during optimisation",
            "Iteration (steps)",
            "Score (unitless)",
            "cka",
            "procrustes-angular-score",
        ],
    );
}

#[test]
fn scatter_log_x_renders() {
    let evr: Vec<f64> = (0..30).map(|i| 0.3 * 0.8f64.powi(i)).collect();
    let cka: Vec<f64> = evr.iter().map(|v| 1.0 - 0.5 * v.sqrt()).collect();
    let proc: Vec<f64> = evr.iter().map(|v| 0.9 - 0.8 * v.sqrt()).collect();
    let plot = XyPlot {
        title: "Score at which each target PC is half-captured".into(),
        x: Axis::new("PC explained variance", "fraction of total"),
        y: Axis::new("Score to capture PC", "unitless"),
        series: vec![
            Series::new("cka", evr.clone(), cka),
            Series::new("procrustes-angular-score", evr, proc),
        ],
    };
    let size = Size::default();
    let fig = scatter_log_x(&plot, size).unwrap();
    check(
        "scatter_log_x",
        &fig,
        size,
        &[
            "PC explained variance (fraction of total)",
            "Score to capture PC (unitless)",
            "cka",
        ],
    );
    // Nothing positive to show on a log axis.
    let empty = XyPlot {
        series: vec![Series::new("zero", vec![0.0, -1.0], vec![0.5, 0.6])],
        ..plot
    };
    assert!(matches!(
        scatter_log_x(&empty, size),
        Err(PlotError::NoData(_))
    ));
}

#[test]
fn scatter_renders() {
    let score: Vec<f64> = (0..40).map(|i| i as f64 / 40.0).collect();
    let acc: Vec<f64> = score.iter().map(|s| 0.3 + 0.7 * s * s).collect();
    let plot = XyPlot {
        title: "Task decoding from Y along the optimisation".into(),
        x: Axis::new("Score", "unitless"),
        y: Axis::new("Normalised decoding accuracy", "accuracy on Y / on X"),
        series: vec![Series::new("cka", score, acc)],
    };
    let size = Size {
        width: 640,
        height: 400,
    };
    let fig = scatter(&plot, size).unwrap();
    check(
        "scatter",
        &fig,
        size,
        &[
            "Normalised decoding accuracy (accuracy on Y / on X)",
            "Score (unitless)",
        ],
    );
}

#[test]
fn heatmap_renders() {
    let rows: Vec<String> = ["V1", "V4", "IT", "model-layer-3"]
        .map(String::from)
        .to_vec();
    let cols: Vec<String> = [
        "cka",
        "nbs",
        "procrustes-angular-score",
        "rsa-correlation-pearson",
        "ridge-lambda100-r2#5folds_cv",
    ]
    .map(String::from)
    .to_vec();
    let values: Vec<Vec<Option<f64>>> = (0..rows.len())
        .map(|r| {
            (0..cols.len())
                .map(|c| (r != 2 || c != 3).then(|| ((r * 5 + c) as f64 * 0.37).sin().abs()))
                .collect()
        })
        .collect();
    let plot = HeatmapPlot {
        title: "Scores of each dataset against the model".into(),
        rows: Axis::new("Dataset", ""),
        cols: Axis::new("Measure", ""),
        value: Axis::new("Score", "unitless"),
        row_names: rows,
        col_names: cols,
        values,
        range: None,
    };
    let size = Size::default();
    let fig = heatmap(&plot, size).unwrap();
    check(
        "heatmap",
        &fig,
        size,
        &[
            "Scores of each dataset against the model",
            "Measure",
            "Dataset",
            "Score (unitless)",
            "n/a",
            "model-layer-3",
        ],
    );
    let bad = HeatmapPlot {
        values: vec![vec![Some(1.0)]],
        ..plot
    };
    assert!(matches!(heatmap(&bad, size), Err(PlotError::Shape(_))));
}

#[test]
fn bad_sizes_and_series_are_refused() {
    let plot = XyPlot {
        title: "t".into(),
        x: Axis::new("x", "m"),
        y: Axis::new("y", "s"),
        series: vec![Series::new("a", vec![1.0, 2.0], vec![1.0])],
    };
    assert!(matches!(
        line_plot(&plot, Size::default()),
        Err(PlotError::Shape(_))
    ));
    let ok = XyPlot {
        series: vec![Series::new("a", vec![1.0], vec![1.0])],
        ..plot
    };
    let tiny = Size {
        width: 10,
        height: 10,
    };
    assert!(matches!(
        plots::line_plot(&ok, tiny),
        Err(PlotError::Size { .. })
    ));
    // A single point still renders (as a dot).
    line_plot(&ok, Size::default()).unwrap();
}
