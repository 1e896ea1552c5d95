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
    let arrays = simscore_core::formats::load_file(&path, "X")
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
    let x = load(&args.x)?;
    let y = load(&args.y)?;
    let xm = x.to_mat().context("X")?;
    let ym = y.to_mat().context("Y")?;
    let ids: Vec<String> = if args.all {
        measures::catalogue().iter().map(|m| m.id.clone()).collect()
    } else {
        args.measures.clone()
    };
    for id in &ids {
        measures::find(id)?;
    }
    let bar = ProgressBar::new(1000);
    bar.set_style(
        ProgressStyle::with_template("{bar:40} {percent:>3}% {msg}")
            .unwrap_or_else(|_| ProgressStyle::default_bar()),
    );
    if args.json {
        bar.set_draw_target(indicatif::ProgressDrawTarget::hidden());
    }
    let values = measures::score_many(&ids, xm.as_ref(), ym.as_ref(), &Bar(bar.clone()))?;
    bar.finish_and_clear();
    if args.json {
        let out: Vec<_> = ids
            .iter()
            .zip(&values)
            .map(|(id, v)| match v {
                Ok(v) => serde_json::json!({"measure": id, "value": v}),
                Err(e) => serde_json::json!({"measure": id, "error": e.to_string()}),
            })
            .collect();
        println!(
            "{}",
            serde_json::to_string_pretty(&serde_json::json!({"scores": out}))?
        );
    } else {
        let width = ids.iter().map(|s| s.len()).max().unwrap_or(10);
        for (id, v) in ids.iter().zip(&values) {
            match v {
                Ok(v) => println!("{id:<width$}  {v:.12}"),
                Err(e) => println!("{id:<width$}  error: {e}"),
            }
        }
    }
    Ok(())
}
