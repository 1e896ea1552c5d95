//! The `score` job: similarity measures on a pair of arrays, or on every pair of two lists
//! (e.g. model layers × brain areas), with optional permutation tests and bootstrap intervals.
//!
//! An adapter only: it loads the arrays, calls `simscore_core::measures`, and shapes the result.

use serde::{Deserialize, Deserializer, Serialize};
use utoipa::ToSchema;

use crate::jobs::{ArrayRef, Inputs, JobContext, JobError, JobKind};
use simscore_core::array::{Array, pair_conditions};
use simscore_core::measures::{self, stats};
use simscore_core::progress::{Progress, Slice};

pub struct Score;

/// One array reference or a list of them.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
#[serde(untagged)]
pub enum OneOrMany {
    One(ArrayRef),
    Many(Vec<ArrayRef>),
}

impl<'de> Deserialize<'de> for OneOrMany {
    // Decide by the JSON shape so that errors name the real problem (an untagged enum would only
    // say that no variant matched).
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let v = serde_json::Value::deserialize(d)?;
        if v.is_array() {
            serde_json::from_value(v).map(OneOrMany::Many)
        } else {
            serde_json::from_value(v).map(OneOrMany::One)
        }
        .map_err(serde::de::Error::custom)
    }
}

impl OneOrMany {
    pub fn refs(&self) -> &[ArrayRef] {
        match self {
            OneOrMany::One(r) => std::slice::from_ref(r),
            OneOrMany::Many(v) => v,
        }
    }
    fn is_table(&self) -> bool {
        matches!(self, OneOrMany::Many(_))
    }
}

/// Input of a `score` job.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({
    "x": {"dataset": "0190f1c2-0000-7000-8000-000000000001", "array": "X"},
    "y": {"dataset": "0190f1c2-0000-7000-8000-000000000002"},
    "measures": ["cka", "procrustes-angular-score", "rsa-rdm=correlation-compare=spearman"]
}))]
pub struct ScoreSpec {
    /// First argument: an array (`{"dataset", "array"}`), or a list of arrays for a table.
    pub x: OneOrMany,
    /// Second argument: an array, or a list of arrays for a table (every x against every y).
    pub y: OneOrMany,
    /// Measure ids or aliases (see `GET /v1/measures`); `["all"]` runs the whole catalogue.
    pub measures: Vec<String>,
    /// Row-permutation null distribution per score: this many permutations (0 = none).
    #[serde(default)]
    pub permutations: u32,
    /// Row-bootstrap confidence interval per score: this many resamples (0 = none).
    #[serde(default)]
    pub bootstrap: u32,
    /// Confidence level of the bootstrap interval.
    #[serde(default = "default_confidence")]
    pub confidence: f64,
    /// Seed for everything random in the job (default: drawn at submission and recorded).
    #[serde(default = "random_seed")]
    pub seed: u64,
}

fn default_confidence() -> f64 {
    0.95
}

/// Upper bound on permutations and bootstrap resamples per score.
const MAX_RESAMPLES: u32 = 100_000;

pub(crate) fn random_seed() -> u64 {
    rand::random::<u64>() >> 11 // fits a JSON number (53 bits) exactly
}

/// Measure ids to run: the list as given, or the whole catalogue for `all`.
pub fn expand(measures: &[String]) -> Vec<String> {
    if measures.iter().any(|m| m == "all") {
        measures::catalogue().iter().map(|m| m.id.clone()).collect()
    } else {
        measures.to_vec()
    }
}

/// (rows, columns) of the matrix an array stands for.
fn matrix_shape(name: &str, shape: &[usize]) -> Result<(usize, usize), String> {
    match shape {
        [n, p] => Ok((*n, *p)),
        [t, c, p] => Ok((t * c, *p)),
        _ => Err(format!(
            "{name} has shape {shape:?}; a representation must be 2-D (stimuli, units) or 3-D (time, conditions, units)"
        )),
    }
}

impl JobKind for Score {
    const KIND: &'static str = "score";
    const SUMMARY: &'static str =
        "Similarity measures on a pair of arrays or on all pairs of two lists";
    type Spec = ScoreSpec;

    fn datasets(spec: &ScoreSpec) -> Vec<String> {
        let mut ids: Vec<String> = spec
            .x
            .refs()
            .iter()
            .chain(spec.y.refs())
            .map(|r| r.dataset.clone())
            .collect();
        ids.sort();
        ids.dedup();
        ids
    }

    fn validate(spec: &ScoreSpec, inputs: &Inputs) -> Result<(), String> {
        if spec.measures.is_empty() {
            return Err("\"measures\" is empty: name at least one measure (see GET /v1/measures), or [\"all\"]".into());
        }
        if spec.permutations > MAX_RESAMPLES || spec.bootstrap > MAX_RESAMPLES {
            return Err(format!(
                "\"permutations\" and \"bootstrap\" are limited to {MAX_RESAMPLES}"
            ));
        }
        if spec.bootstrap == 1 {
            return Err("\"bootstrap\" needs at least 2 resamples (or 0 for none)".into());
        }
        if !(spec.confidence > 0.0 && spec.confidence < 1.0) {
            return Err(format!(
                "\"confidence\" must be between 0 and 1 (exclusive), got {}",
                spec.confidence
            ));
        }
        if spec.x.refs().is_empty() || spec.y.refs().is_empty() {
            return Err("\"x\" and \"y\" must each name at least one array".into());
        }
        let all = spec.measures.iter().any(|m| m == "all");
        let mut found = Vec::new();
        for id in &spec.measures {
            if id != "all" {
                found.push(measures::find(id).map_err(|e| e.to_string())?);
            }
        }
        type Shape = ((usize, usize), Vec<usize>);
        let shapes = |side: &str, refs: &[ArrayRef]| -> Result<Vec<Shape>, String> {
            refs.iter()
                .enumerate()
                .map(|(i, r)| {
                    let info = inputs.array(r)?;
                    let m = matrix_shape(&format!("{side}[{i}] ('{}')", info.name), &info.shape)?;
                    Ok((m, info.shape.clone()))
                })
                .collect()
        };
        let xs = shapes("x", spec.x.refs())?;
        let ys = shapes("y", spec.y.refs())?;
        for (i, ((nx, px), x_shape)) in xs.iter().enumerate() {
            for (j, ((ny, py), y_shape)) in ys.iter().enumerate() {
                let (nx, px, ny, py) = (*nx, *px, *ny, *py);
                if nx != ny {
                    return Err(format!(
                        "x[{i}] has {nx} rows but y[{j}] has {ny}: rows are stimuli/conditions and must correspond one to one"
                    ));
                }
                // With "all", measures that cannot run on these shapes report why in the result.
                if !all {
                    for m in &found {
                        m.check_shapes_in(nx, px, py, pair_conditions(x_shape, y_shape))
                            .map_err(|e| e.to_string())?;
                    }
                }
            }
        }
        Ok(())
    }

    fn seed(spec: &ScoreSpec) -> u64 {
        spec.seed
    }

    fn run(spec: ScoreSpec, ctx: &JobContext) -> Result<serde_json::Value, JobError> {
        let ids = expand(&spec.measures);
        let load = |refs: &[ArrayRef]| -> Result<Vec<(String, Array)>, JobError> {
            refs.iter()
                .map(|r| {
                    let name = match &r.array {
                        Some(a) => format!("{}:{a}", r.dataset),
                        None => r.dataset.clone(),
                    };
                    Ok((name, ctx.array(r)?))
                })
                .collect()
        };
        ctx.progress(0.0, "loading inputs");
        let xs = load(spec.x.refs())?;
        let ys = load(spec.y.refs())?;
        let (result, csv) = compute(&spec, &ids, &xs, &ys, ctx)?;
        ctx.write_artifact("scores.csv", "text/csv", csv.into_bytes())?;
        Ok(result)
    }
}

/// Scores loaded arrays as `spec` asks: the job's result JSON and the `scores.csv` table. Shared
/// by the job and the synchronous `POST /v1/score`.
pub fn compute(
    spec: &ScoreSpec,
    ids: &[String],
    xs: &[(String, Array)],
    ys: &[(String, Array)],
    progress: &dyn Progress,
) -> Result<(serde_json::Value, String), JobError> {
    let to_mat = |(name, a): &(String, Array)| {
        a.to_mat()
            .map_err(|e| JobError::Fatal(format!("{name}: {e}")))
    };
    let xm = xs.iter().map(to_mat).collect::<Result<Vec<_>, _>>()?;
    let ym = ys.iter().map(to_mat).collect::<Result<Vec<_>, _>>()?;
    let xr: Vec<_> = xm.iter().map(|m| m.as_ref()).collect();
    let yr: Vec<_> = ym.iter().map(|m| m.as_ref()).collect();
    let resampling = spec.permutations > 0 || spec.bootstrap > 0;
    let scoring_share = if resampling { 0.1 } else { 1.0 };
    let conditions = |i: usize, j: usize| pair_conditions(&xs[i].1.shape, &ys[j].1.shape);
    let table = stats::all_pairs(
        ids,
        &xr,
        &yr,
        &conditions,
        &Slice::new(progress, 0.0, scoring_share, "scores"),
    )?;

    let mut cells: Vec<serde_json::Value> = Vec::with_capacity(table.cells.len());
    let stats_cells: Vec<usize> = (0..table.cells.len())
        .filter(|&k| resampling && table.cells[k].value.is_some())
        .collect();
    for (k, cell) in table.cells.iter().enumerate() {
        let mut out = serde_json::json!({"measure": cell.measure});
        match (&cell.value, &cell.error) {
            (Some(v), _) => out["value"] = (*v).into(),
            (None, Some(e)) => out["error"] = e.clone().into(),
            (None, None) => {}
        }
        if let Some(done) = stats_cells.iter().position(|&c| c == k) {
            let share = (1.0 - scoring_share) / stats_cells.len() as f64;
            let part = Slice::new(
                progress,
                scoring_share + share * done as f64,
                share,
                &cell.measure,
            );
            let pair = stats::Pair {
                x: xr[cell.row],
                y: yr[cell.col],
                conditions: conditions(cell.row, cell.col),
            };
            // Each cell draws from its own stream, so adding a measure changes no other cell.
            let seed = spec.seed.wrapping_add(k as u64);
            if spec.permutations > 0 {
                out["permutation"] = stat_json(stats::permutation_test(
                    &cell.measure,
                    pair,
                    spec.permutations as usize,
                    seed,
                    &part,
                ))?;
            }
            if spec.bootstrap > 0 {
                out["bootstrap"] = stat_json(stats::bootstrap(
                    &cell.measure,
                    pair,
                    spec.bootstrap as usize,
                    seed,
                    spec.confidence,
                    &part,
                ))?;
            }
        }
        cells.push(out);
    }
    let x_names: Vec<&String> = xs.iter().map(|(n, _)| n).collect();
    let y_names: Vec<&String> = ys.iter().map(|(n, _)| n).collect();
    let per_pair = ids.len().max(1);
    let csv = table_csv(&table, &x_names, &y_names);
    let result = if spec.x.is_table() || spec.y.is_table() {
        serde_json::json!({
            "mode": "table",
            "x": x_names,
            "y": y_names,
            "measures": ids,
            "scores": cells.chunks(per_pair).collect::<Vec<_>>(),
        })
    } else {
        serde_json::json!({"mode": "pair", "scores": cells})
    };
    Ok((result, csv))
}

/// A statistic's result as JSON; a measure-level failure is reported in place, cancellation stops.
fn stat_json<T: Serialize>(r: Result<T, stats::StatsError>) -> Result<serde_json::Value, JobError> {
    match r {
        Ok(v) => Ok(serde_json::to_value(v).unwrap_or_default()),
        Err(stats::StatsError::Cancelled) => Err(JobError::Cancelled),
        Err(e) => Ok(serde_json::json!({"error": e.to_string()})),
    }
}

fn table_csv(t: &stats::PairTable, x_names: &[&String], y_names: &[&String]) -> String {
    let quote = |s: &str| format!("\"{}\"", s.replace('"', "\"\""));
    let mut out = String::from("x,y,measure,value,error\n");
    for c in &t.cells {
        let value = c.value.map(|v| format!("{v:.17e}")).unwrap_or_default();
        let error = c.error.as_deref().map(quote).unwrap_or_default();
        out.push_str(&format!(
            "{},{},{},{value},{error}\n",
            quote(x_names[c.row]),
            quote(y_names[c.col]),
            quote(&c.measure)
        ));
    }
    out
}
