//! The `score` job: similarity measures on a pair of arrays, or on every pair of two lists
//! (e.g. model layers × brain areas), with optional permutation tests and bootstrap intervals.
//!
//! An adapter only: it loads the arrays, calls `simscore_core::measures`, and shapes the result.

use serde::{Deserialize, Deserializer, Serialize};
use utoipa::ToSchema;

use crate::jobs::{ArrayRef, Inputs, JobContext, JobError, JobKind};
use simscore_core::array::Array;
use simscore_core::measures::{self, MeasureError};
use simscore_core::progress::{Cancelled, Progress};

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
    /// Seed for everything random in the job (default: drawn at submission and recorded).
    #[serde(default = "random_seed")]
    pub seed: u64,
}

fn random_seed() -> u64 {
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

#[derive(Debug, Serialize)]
struct Cell {
    measure: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    value: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    error: Option<MeasureError>,
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
        let shapes = |side: &str, refs: &[ArrayRef]| -> Result<Vec<(usize, usize)>, String> {
            refs.iter()
                .enumerate()
                .map(|(i, r)| {
                    let info = inputs.array(r)?;
                    matrix_shape(&format!("{side}[{i}] ('{}')", info.name), &info.shape)
                })
                .collect()
        };
        let xs = shapes("x", spec.x.refs())?;
        let ys = shapes("y", spec.y.refs())?;
        for (i, &(nx, px)) in xs.iter().enumerate() {
            for (j, &(ny, py)) in ys.iter().enumerate() {
                if nx != ny {
                    return Err(format!(
                        "x[{i}] has {nx} rows but y[{j}] has {ny}: rows are stimuli/conditions and must correspond one to one"
                    ));
                }
                // With "all", measures that cannot run on these shapes report why in the result.
                if !all {
                    for m in &found {
                        m.check_shapes(nx, px, py).map_err(|e| e.to_string())?;
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
    let table = score_table(ids, xs, ys, progress)?;
    let cells = |row: &[Cell]| serde_json::to_value(row).unwrap_or_default();
    let result = if spec.x.is_table() || spec.y.is_table() {
        serde_json::json!({
            "mode": "table",
            "x": table.x_names,
            "y": table.y_names,
            "measures": ids,
            "scores": table.cells.iter().map(|row| cells(row)).collect::<Vec<_>>(),
        })
    } else {
        serde_json::json!({
            "mode": "pair",
            "scores": table.cells.first().map(|row| cells(row)).unwrap_or_default(),
        })
    };
    Ok((result, table_csv(&table)))
}

struct Table {
    x_names: Vec<String>,
    y_names: Vec<String>,
    /// `cells[i * ny + j][k]`: measure k on (x_i, y_j).
    cells: Vec<Vec<Cell>>,
}

/// Every measure on every (x, y) pair; progress is reported across all pairs.
fn score_table(
    ids: &[String],
    xs: &[(String, Array)],
    ys: &[(String, Array)],
    progress: &dyn Progress,
) -> Result<Table, JobError> {
    let to_mat = |name: &str, a: &Array| {
        a.to_mat()
            .map_err(|e| JobError::Fatal(format!("{name}: {e}")))
    };
    let xm = xs
        .iter()
        .map(|(n, a)| to_mat(n, a))
        .collect::<Result<Vec<_>, _>>()?;
    let ym = ys
        .iter()
        .map(|(n, a)| to_mat(n, a))
        .collect::<Result<Vec<_>, _>>()?;
    let pairs = xm.len() * ym.len();
    let mut cells = Vec::with_capacity(pairs);
    for (i, x) in xm.iter().enumerate() {
        for (j, y) in ym.iter().enumerate() {
            let done = (i * ym.len() + j) as f64;
            let sub = Scaled {
                inner: progress,
                offset: done / pairs as f64,
                scale: 1.0 / pairs as f64,
                label: format!("x[{i}] × y[{j}]"),
            };
            let values = measures::score_many(ids, x.as_ref(), y.as_ref(), &sub)
                .map_err(|Cancelled| JobError::Cancelled)?;
            cells.push(
                ids.iter()
                    .zip(values)
                    .map(|(id, v)| match v {
                        Ok(value) => Cell {
                            measure: id.clone(),
                            value: Some(value),
                            error: None,
                        },
                        Err(e) => Cell {
                            measure: id.clone(),
                            value: None,
                            error: Some(e),
                        },
                    })
                    .collect(),
            );
        }
    }
    Ok(Table {
        x_names: xs.iter().map(|(n, _)| n.clone()).collect(),
        y_names: ys.iter().map(|(n, _)| n.clone()).collect(),
        cells,
    })
}

/// Maps a sub-task's progress into its slice of the whole.
struct Scaled<'a> {
    inner: &'a dyn Progress,
    offset: f64,
    scale: f64,
    label: String,
}

impl Progress for Scaled<'_> {
    fn report(&self, fraction: f64, message: &str) {
        self.inner.report(
            self.offset + self.scale * fraction.min(0.999),
            &format!("{}: {message}", self.label),
        );
    }
    fn cancelled(&self) -> bool {
        self.inner.cancelled()
    }
}

fn table_csv(t: &Table) -> String {
    let mut out = String::from("x,y,measure,value,error\n");
    let ny = t.y_names.len();
    for (k, row) in t.cells.iter().enumerate() {
        for c in row {
            let value = c.value.map(|v| format!("{v:.17e}")).unwrap_or_default();
            let error = c
                .error
                .as_ref()
                .map(|e| format!("\"{}\"", e.to_string().replace('"', "\"\"")))
                .unwrap_or_default();
            out.push_str(&format!(
                "{},{},{},{value},{error}\n",
                t.x_names[k / ny],
                t.y_names[k % ny],
                c.measure
            ));
        }
    }
    out
}
