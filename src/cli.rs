//! Commands that run without a server: token management and offline scoring of local files.

use std::path::PathBuf;

use anyhow::Context;
use clap::Args;
use indicatif::{ProgressBar, ProgressStyle};

use crate::config::{StorageArgs, TokenCommand};
use crate::domain::Role;
use crate::store::Store;
use simscore_core::array::Array;
use simscore_core::measures;
use simscore_core::progress::Progress;

#[derive(Debug, Args)]
pub struct ScoreArgs {
    /// First array: a .npy file, or NAME.npz[:ARRAY].
    pub x: String,
    /// Second array: a .npy file, or NAME.npz[:ARRAY].
    pub y: String,
    /// Measure ids or aliases (repeatable); see `GET /v1/measures`.
    #[arg(long = "measure", short = 'm', required_unless_present = "all")]
    pub measures: Vec<String>,
    /// Run every measure of the catalogue.
    #[arg(long)]
    pub all: bool,
    /// Row-permutation test with this many permutations per measure.
    #[arg(long, default_value_t = 0)]
    pub permutations: u32,
    /// Row-bootstrap confidence interval with this many resamples per measure.
    #[arg(long, default_value_t = 0)]
    pub bootstrap: u32,
    /// Confidence level of the bootstrap interval.
    #[arg(long, default_value_t = 0.95)]
    pub confidence: f64,
    /// Seed of the permutations and resamples.
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// Print JSON instead of a table.
    #[arg(long)]
    pub json: bool,
}

pub async fn token(command: TokenCommand) -> anyhow::Result<()> {
    let open = |s: &StorageArgs| {
        let url = s.database_url();
        let max = s.db_max_connections.min(2);
        async move { Store::connect(&url, max).await }
    };
    match command {
        TokenCommand::Create {
            user,
            name,
            admin,
            storage,
        } => {
            let store = open(&storage).await?;
            let role = if admin { Role::Admin } else { Role::User };
            let created = store.create_token(&user, &name, role).await?;
            eprintln!(
                "token {} for user {} ({}); it is shown only once:",
                created.id,
                created.user.name,
                created.user.role.as_str()
            );
            println!("{}", created.token);
        }
        TokenCommand::List { storage } => {
            let store = open(&storage).await?;
            println!(
                "{:<38} {:<16} {:<16} {:<6} {:<26} REVOKED",
                "ID", "NAME", "USER", "ROLE", "CREATED"
            );
            for t in store.list_tokens().await? {
                println!(
                    "{:<38} {:<16} {:<16} {:<6} {:<26} {}",
                    t.id,
                    t.name,
                    t.user,
                    t.role,
                    t.created_at,
                    t.revoked_at.unwrap_or_default()
                );
            }
        }
        TokenCommand::Revoke { id, storage } => {
            let store = open(&storage).await?;
            if store.revoke_token(&id).await? {
                eprintln!("revoked token {id}");
            } else {
                anyhow::bail!("no active token with id {id}");
            }
        }
    }
    Ok(())
}

/// Loads `path` or `path:array`.
fn load(arg: &str) -> anyhow::Result<Array> {
    let (path, array) = match arg.rsplit_once(':') {
        Some((p, a)) if p.ends_with(".npz") => (PathBuf::from(p), Some(a.to_string())),
        _ => (PathBuf::from(arg), None),
    };
    // a `.npy` array is named after its file, so errors point at the right input
    let stem = path.file_stem().and_then(|s| s.to_str()).unwrap_or("array");
    let arrays = simscore_core::formats::load_file(&path, stem)
        .with_context(|| format!("reading {}", path.display()))?;
    let r = crate::jobs::ArrayRef {
        dataset: path.display().to_string(),
        array,
    };
    crate::jobs::select_array(arrays, &r).map_err(anyhow::Error::msg)
}

struct Bar(ProgressBar);

impl Progress for Bar {
    fn report(&self, fraction: f64, message: &str) {
        self.0.set_position((fraction * 1000.0) as u64);
        self.0.set_message(message.to_string());
    }
}

pub fn score(args: ScoreArgs) -> anyhow::Result<()> {
    use crate::jobs::kinds::score::{self, OneOrMany, ScoreSpec};
    let reference = |arg: &str| crate::jobs::ArrayRef {
        dataset: arg.to_string(),
        array: None,
    };
    let spec = ScoreSpec {
        x: OneOrMany::One(reference(&args.x)),
        y: OneOrMany::One(reference(&args.y)),
        measures: if args.all {
            vec!["all".into()]
        } else {
            args.measures.clone()
        },
        permutations: args.permutations,
        bootstrap: args.bootstrap,
        confidence: args.confidence,
        seed: args.seed,
    };
    let ids = score::expand(&spec.measures);
    for id in &ids {
        measures::find(id)?;
    }
    let xs = vec![(args.x.clone(), load(&args.x)?)];
    let ys = vec![(args.y.clone(), load(&args.y)?)];
    let bar = ProgressBar::new(1000);
    bar.set_style(
        ProgressStyle::with_template("{bar:40} {percent:>3}% {msg}")
            .unwrap_or_else(|_| ProgressStyle::default_bar()),
    );
    if args.json {
        bar.set_draw_target(indicatif::ProgressDrawTarget::hidden());
    }
    let (result, _) = score::compute(&spec, &ids, &xs, &ys, &Bar(bar.clone()))
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    bar.finish_and_clear();
    if args.json {
        println!("{}", serde_json::to_string_pretty(&result)?);
        return Ok(());
    }
    let width = ids.iter().map(String::len).max().unwrap_or(10);
    for cell in result["scores"].as_array().into_iter().flatten() {
        let id = cell["measure"].as_str().unwrap_or_default();
        let mut line = match cell["value"].as_f64() {
            Some(v) => format!("{id:<width$}  {v:>16.12}"),
            None => format!(
                "{id:<width$}  error: {}",
                cell["error"].as_str().unwrap_or_default()
            ),
        };
        if let Some(p) = cell["permutation"]["p_value"].as_f64() {
            line.push_str(&format!("  p = {p:.4}"));
        }
        if let (Some(lo), Some(hi)) = (
            cell["bootstrap"]["ci_low"].as_f64(),
            cell["bootstrap"]["ci_high"].as_f64(),
        ) {
            line.push_str(&format!("  CI [{lo:.6}, {hi:.6}]"));
        }
        println!("{line}");
    }
    Ok(())
}

#[derive(Debug, Args)]
pub struct OptimizeArgs {
    /// Target array: a .npy file, or NAME.npz[:ARRAY].
    #[arg(long, conflicts_with = "dataset", required_unless_present = "dataset")]
    pub target: Option<String>,
    /// A built-in target: ultrametric, exp-gaussian or toy2d.
    #[arg(long)]
    pub dataset: Option<String>,
    /// Measures to maximise (repeatable).
    #[arg(long = "measure", short = 'm', required = true)]
    pub measures: Vec<String>,
    /// Stop once the score exceeds this (the paper uses 0.99).
    #[arg(long)]
    pub stop_score: Option<f64>,
    #[arg(long, default_value_t = 1000)]
    pub max_iter: usize,
    /// Adam learning rate.
    #[arg(long, default_value_t = 0.1)]
    pub lr: f64,
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// `cpu` or `cuda:N`.
    #[arg(long, default_value = "cpu")]
    pub device: String,
    /// Keep Y every this many iterations for the analyses.
    #[arg(long, default_value_t = 10)]
    pub snapshot_every: usize,
    /// Run the PC-capture analysis.
    #[arg(long)]
    pub pc_capture: bool,
    /// Run the decoding analysis (label arrays of the target's .npz, or the built-in labels).
    #[arg(long)]
    pub decoding: bool,
    /// Names of label arrays in the target's .npz (repeatable).
    #[arg(long = "labels")]
    pub labels: Vec<String>,
    /// Write Y_final.npy, snapshots.npz and the plots into this directory.
    #[arg(long)]
    pub out: Option<PathBuf>,
    /// Print the machine-readable result.
    #[arg(long)]
    pub json: bool,
}

pub fn optimize(args: OptimizeArgs) -> anyhow::Result<()> {
    use crate::jobs::kinds::optimize::{self, Analyses};
    use simscore_core::analysis::decoding::LabelSet;
    use simscore_core::optim::{AdamConfig, OptimizeSpec, OptimizerConfig};

    let (target, labels) = match (&args.target, &args.dataset) {
        (Some(path), _) => {
            let x = load(path)?;
            let file = path.rsplit_once(':').map(|(f, _)| f).unwrap_or(path);
            let labels = args
                .labels
                .iter()
                .map(|name| {
                    let a = load(&format!("{file}:{name}"))?;
                    Ok(LabelSet {
                        name: name.clone(),
                        labels: a.data,
                    })
                })
                .collect::<anyhow::Result<Vec<_>>>()?;
            (x, labels)
        }
        (None, Some(name)) => {
            let ds = simscore_core::optim::datasets::dataset(name, args.seed).ok_or_else(|| {
                anyhow::anyhow!(
                    "unknown built-in dataset {name:?}; available: {}",
                    simscore_core::optim::datasets::DATASETS.join(", ")
                )
            })?;
            let labels = ds
                .labels
                .into_iter()
                .map(|l| LabelSet {
                    name: l.name,
                    labels: l.values.into_iter().map(|v| v as f64).collect(),
                })
                .collect();
            (ds.data, labels)
        }
        (None, None) => anyhow::bail!("give --target FILE or --dataset NAME"),
    };
    let mut settings = OptimizeSpec::new(&args.measures[0]);
    settings.measures = args.measures.clone();
    settings.stop_score = args.stop_score;
    settings.max_iter = args.max_iter;
    settings.optimizer = OptimizerConfig::Adam(AdamConfig {
        lr: args.lr,
        ..AdamConfig::default()
    });
    settings.seed = args.seed;
    settings.device = args.device.clone();
    settings.snapshot_every = Some(args.snapshot_every.max(1));
    let analyses = Analyses {
        pc_capture: args.pc_capture,
        pc_capture_orth: false,
        decoding: args.decoding,
        plots: args.out.is_some(),
    };
    let bar = ProgressBar::new(1000);
    bar.set_style(
        ProgressStyle::with_template("{bar:40} {percent:>3}% {msg}")
            .unwrap_or_else(|_| ProgressStyle::default_bar()),
    );
    if args.json {
        bar.set_draw_target(indicatif::ProgressDrawTarget::hidden());
    }
    let outcome = optimize::run(
        &target,
        &settings,
        None,
        &labels,
        &analyses,
        &Bar(bar.clone()),
    )
    .map_err(|e| anyhow::anyhow!("{e}"))?;
    bar.finish_and_clear();
    if let Some(dir) = &args.out {
        std::fs::create_dir_all(dir)?;
        for (name, _, bytes) in &outcome.artifacts {
            std::fs::write(dir.join(name), bytes)?;
        }
    }
    if args.json {
        println!("{}", serde_json::to_string_pretty(&outcome.result)?);
    } else {
        let o = &outcome.result["optimization"];
        println!(
            "final score {:.6} after {} steps ({}); steps to stop score: {}",
            o["final_score"].as_f64().unwrap_or(f64::NAN),
            o["steps"],
            o["stop_reason"].as_str().unwrap_or_default(),
            o["steps_to_stop"]
        );
    }
    Ok(())
}
