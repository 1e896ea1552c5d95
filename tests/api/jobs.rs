//! The queue under stress: cancellation, many workers, crashed workers, stale workers.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use reqwest::StatusCode;
use serde_json::json;

use crate::helpers::{
    Backend, Options, fresh_database, matrix, simscore_bin, spawn_app, storage_args,
};
use crate::on_both_backends;
use simscore::domain::{JobStatus, Role, User};
use simscore::store::{NewJob, Store};

/// A store on a fresh database of `backend` with one user, or `None` when that backend is skipped.
/// The directory holds the SQLite file, so it must live as long as the store.
async fn store_with_user(backend: Backend, pool: u32) -> Option<(tempfile::TempDir, Store, User)> {
    let dir = tempfile::tempdir().expect("dir");
    let url = fresh_database(backend, dir.path()).await?;
    let store = Store::connect(&url, pool).await.expect("store");
    let user = store.ensure_user("u", Role::User).await.expect("user");
    Some((dir, store, user))
}

/// A score job that runs for a while: a table of many pairs, reporting progress after each.
fn long_spec(x: &str, pairs: usize) -> serde_json::Value {
    let refs: Vec<_> = (0..pairs).map(|_| json!({"dataset": x})).collect();
    json!({"x": refs, "y": refs, "measures": ["cka", "nbs", "procrustes-angular-score"]})
}

async fn cancellation(backend: Backend) {
    // No workers: the job stays queued, and cancelling it is immediate.
    let Some(app) = spawn_app(
        backend,
        Options {
            workers: 0,
            ..Options::default()
        },
    )
    .await
    else {
        return;
    };
    let x = app.upload_ok(&matrix(50, 10, 1), "x").await;
    let queued = app
        .submit_ok(
            "score",
            json!({"x": {"dataset": x}, "y": {"dataset": x}, "measures": ["cka"]}),
        )
        .await;
    let (status, job) = app
        .post_json(&format!("/v1/jobs/{queued}/cancel"), &json!({}))
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(job["status"], "cancelled");
    assert_eq!(job["attempts"], 0, "it never ran");
    // Idempotent.
    let (status, job) = app
        .post_json(&format!("/v1/jobs/{queued}/cancel"), &json!({}))
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(job["status"], "cancelled");
    drop(app);

    // A running job stops at its next progress report.
    let Some(app) = spawn_app(backend, Options::default()).await else {
        return;
    };
    let x = app.upload_ok(&matrix(300, 120, 1), "x").await;
    let running = app.submit_ok("score", long_spec(&x, 40)).await;
    app.wait_job(&running, Duration::from_secs(60), |j| {
        j["status"] == "running" && j["progress"].as_f64().unwrap_or(0.0) > 0.0
    })
    .await;
    let asked = Instant::now();
    let (status, job) = app
        .post_json(&format!("/v1/jobs/{running}/cancel"), &json!({}))
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(job["cancel_requested"], true);
    let job = app.wait_finished(&running, Duration::from_secs(60)).await;
    assert_eq!(job["status"], "cancelled", "{job}");
    assert!(
        job["progress"].as_f64().unwrap_or(1.0) < 1.0,
        "it stopped early: {job}"
    );
    assert!(
        asked.elapsed() < Duration::from_secs(20),
        "it stopped promptly"
    );
    assert!(job["result"].is_null());
}
on_both_backends!(cancellation);

/// 8 workers, 200 jobs: every job is claimed and finished exactly once.
async fn many_workers(backend: Backend) {
    let Some(app) = spawn_app(
        backend,
        Options {
            workers: 8,
            ..Options::default()
        },
    )
    .await
    else {
        return;
    };
    let x = app.upload_ok(&matrix(12, 3, 1), "x").await;
    let mut ids = Vec::new();
    for i in 0..200 {
        ids.push(
            app.submit_ok(
                "score",
                json!({"x": {"dataset": x}, "y": {"dataset": x}, "measures": ["cka"], "seed": i}),
            )
            .await,
        );
    }
    let store = Store::connect(&app.database_url, 2).await.expect("store");
    for id in &ids {
        let job = app.wait_finished(id, Duration::from_secs(120)).await;
        assert_eq!(job["status"], "succeeded", "{job}");
        assert_eq!(job["attempts"], 1, "claimed once: {job}");
        let events = store.events_after(id, 0, 1000).await.expect("events");
        let runs = events
            .iter()
            .filter(|e| e.kind == "status" && e.data["status"] == "running")
            .count();
        let done = events
            .iter()
            .filter(|e| e.kind == "status" && e.data["status"] == "succeeded")
            .count();
        assert_eq!((runs, done), (1, 1), "job {id}: {events:?}");
    }
    // The work was spread over the workers.
    let mut by_worker: HashMap<String, usize> = HashMap::new();
    for id in &ids {
        let job = store.job(id).await.expect("job");
        let worker = job.reproducibility.expect("record")["worker"]
            .as_str()
            .unwrap_or_default()
            .to_string();
        *by_worker.entry(worker).or_default() += 1;
    }
    assert!(by_worker.len() > 1, "{by_worker:?}");
}
on_both_backends!(many_workers);

/// A worker that lost its lease can write nothing: not progress, not artifacts, not the outcome.
async fn fencing(backend: Backend) {
    let Some((_dir, store, user)) = store_with_user(backend, 4).await else {
        return;
    };
    let (job, _) = store
        .enqueue(NewJob {
            owner: user.id.clone(),
            kind: "score".into(),
            spec: json!({}),
            priority: 0,
            max_attempts: 3,
            idempotency_key: None,
            inputs: vec![],
        })
        .await
        .expect("enqueue");
    let a = store
        .claim("A", &["score"], 50)
        .await
        .expect("claim")
        .expect("a job");
    assert_eq!(a.job.id, job.id);
    assert!(
        store
            .claim("B", &["score"], 50)
            .await
            .expect("claim")
            .is_none(),
        "leased"
    );
    tokio::time::sleep(Duration::from_millis(120)).await;
    let b = store
        .claim("B", &["score"], 60_000)
        .await
        .expect("claim")
        .expect("re-claimed after expiry");
    assert_eq!(b.lease.attempt, 2);
    // A is stale now.
    assert_eq!(store.heartbeat(&a.lease, 1000).await.expect("hb"), None);
    assert_eq!(
        store
            .set_progress(&a.lease, 0.5, "stale")
            .await
            .expect("progress"),
        None
    );
    assert!(
        !store
            .finish(
                &a.lease,
                JobStatus::Succeeded,
                Some(&json!({"from": "A"})),
                None
            )
            .await
            .expect("finish")
    );
    assert!(!store.retry_or_fail(&a.lease, "stale").await.expect("retry"));
    // B finishes; a second finish is refused too.
    assert_eq!(
        store.heartbeat(&b.lease, 60_000).await.expect("hb"),
        Some(false)
    );
    assert!(
        store
            .finish(
                &b.lease,
                JobStatus::Succeeded,
                Some(&json!({"from": "B"})),
                None
            )
            .await
            .expect("finish")
    );
    assert!(
        !store
            .finish(&b.lease, JobStatus::Failed, None, Some("again"))
            .await
            .expect("finish")
    );
    let done = store.job(&job.id).await.expect("job");
    assert_eq!(done.status, JobStatus::Succeeded);
    assert_eq!(done.result, Some(json!({"from": "B"})));
    assert_eq!(done.attempts, 2);
}
on_both_backends!(fencing);

/// Leases that keep expiring end in `failed` after max_attempts, naming the cause.
async fn attempts_are_bounded(backend: Backend) {
    let Some((_dir, store, user)) = store_with_user(backend, 4).await else {
        return;
    };
    let (job, _) = store
        .enqueue(NewJob {
            owner: user.id.clone(),
            kind: "score".into(),
            spec: json!({}),
            priority: 0,
            max_attempts: 2,
            idempotency_key: None,
            inputs: vec![],
        })
        .await
        .expect("enqueue");
    for attempt in 1..=2 {
        let c = store
            .claim("W", &["score"], 20)
            .await
            .expect("claim")
            .expect("job");
        assert_eq!(c.lease.attempt, attempt);
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(
        store
            .claim("W", &["score"], 20)
            .await
            .expect("claim")
            .is_none(),
        "no attempts left"
    );
    assert_eq!(store.reap_expired().await.expect("reap"), 1);
    let failed = store.job(&job.id).await.expect("job");
    assert_eq!(failed.status, JobStatus::Failed);
    assert!(
        failed
            .error
            .unwrap_or_default()
            .contains("(lease expired) on attempt 2 of 2")
    );
    // Priorities: the higher one is claimed first.
    for (p, key) in [(0, "low"), (5, "high")] {
        store
            .enqueue(NewJob {
                owner: user.id.clone(),
                kind: "score".into(),
                spec: json!({"p": p}),
                priority: p,
                max_attempts: 2,
                idempotency_key: Some(key.into()),
                inputs: vec![],
            })
            .await
            .expect("enqueue");
    }
    let first = store
        .claim("W", &["score"], 1000)
        .await
        .expect("claim")
        .expect("job");
    assert_eq!(first.job.priority, 5);
}
on_both_backends!(attempts_are_bounded);

/// Concurrent submissions (on Postgres they share statements and commits): every one gets its
/// own answer. Plain jobs are all queued once with their inputs and first event; pairs that share
/// an idempotency key get one job between them; jobs naming a missing dataset, and jobs whose
/// insert fails (an owner who does not exist), are refused without failing their neighbours.
async fn concurrent_submissions(backend: Backend) {
    let Some((_dir, store, user)) = store_with_user(backend, 8).await else {
        return;
    };
    let (dataset, _) = store
        .insert_dataset(&user, "x", &"ab".repeat(32), 8, &[])
        .await
        .expect("dataset");
    let input = (dataset.id.clone(), dataset.sha256.clone());
    let job = |n: usize, key: Option<String>, inputs: Vec<(String, String)>| NewJob {
        owner: user.id.clone(),
        kind: "score".into(),
        spec: json!({"n": n, "text": "quote \" and \u{e9}"}),
        priority: (n % 3) as i64,
        max_attempts: 3,
        idempotency_key: key,
        inputs,
    };
    let mut submissions = Vec::new();
    for n in 0..80 {
        submissions.push(job(n, None, vec![input.clone()]));
    }
    for pair in 0..15 {
        for _ in 0..2 {
            submissions.push(job(
                100 + pair,
                Some(format!("key-{pair}")),
                vec![input.clone()],
            ));
        }
    }
    for n in 0..10 {
        let missing = ("no-such-dataset".to_string(), "00".repeat(32));
        submissions.push(job(200 + n, None, vec![input.clone(), missing]));
    }
    for n in 0..5 {
        let mut ghost = job(300 + n, None, vec![input.clone()]);
        ghost.owner = "no-such-user".into();
        submissions.push(ghost);
    }
    let answers = futures::future::join_all(submissions.iter().map(|new| {
        let store = store.clone();
        let new = new.clone();
        async move { store.enqueue(new).await }
    }))
    .await;

    let mut ids = std::collections::HashSet::new();
    for (new, answer) in submissions.iter().zip(&answers).take(80) {
        let (job, created) = answer.as_ref().expect("queued");
        assert!(*created);
        assert_eq!((&job.spec, job.priority), (&new.spec, new.priority));
        assert_eq!(job.status, JobStatus::Queued);
        assert!(ids.insert(job.id.clone()), "one id per job");
    }
    for pair in answers[80..110].chunks(2) {
        let (a, a_created) = pair[0].as_ref().expect("queued");
        let (b, b_created) = pair[1].as_ref().expect("queued");
        assert_eq!(a.id, b.id, "one job per idempotency key");
        assert!(a_created ^ b_created, "exactly one of the pair created it");
        assert!(ids.insert(a.id.clone()));
    }
    for answer in &answers[110..120] {
        match answer {
            Err(simscore::store::StoreError::MissingInput(detail)) => {
                assert!(detail.contains("no-such-dataset"), "{detail}")
            }
            other => panic!("expected a missing input, got {other:?}"),
        }
    }
    for answer in &answers[120..] {
        assert!(
            matches!(answer, Err(simscore::store::StoreError::Database(_))),
            "{answer:?}"
        );
    }
    // Exactly the 95 accepted jobs are queued, each with its input and its queued event.
    let mut claimed = 0;
    while let Some(c) = store.claim("W", &["score"], 60_000).await.expect("claim") {
        assert!(
            ids.remove(&c.job.id),
            "claimed once, and only accepted jobs"
        );
        assert_eq!(c.inputs, vec![input.clone()]);
        let events = store.events_after(&c.job.id, 0, 10).await.expect("events");
        assert_eq!(events[0].data, json!({"status": "queued"}), "{events:?}");
        claimed += 1;
    }
    assert_eq!(claimed, 95);
    assert!(ids.is_empty());
}
on_both_backends!(concurrent_submissions);

/// Crash recovery: two worker processes; `kill -9` the one running the job; the other finishes it
/// with exactly one result and attempts = 2.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn crash_recovery_postgres() {
    let Some(app) = spawn_app(
        Backend::Postgres,
        Options {
            workers: 0,
            ..Options::default()
        },
    )
    .await
    else {
        return;
    };
    let x = app.upload_ok(&matrix(300, 120, 1), "x").await;
    let spawn_worker = |name: &str| {
        simscore_bin()
            .args([
                "worker",
                "--workers",
                "1",
                "--lease-secs",
                "2",
                "--poll-ms",
                "100",
                "--worker-name",
                name,
            ])
            .env("SIMSCORE_DATABASE_URL", &app.database_url)
            .env("SIMSCORE_BLOB_STORE", &app.blob_dir)
            .env("RUST_LOG", "warn")
            .spawn()
            .expect("spawn worker")
    };
    let mut first = KillOnDrop(spawn_worker("first"));
    // Let the first worker take the job before the second starts.
    let id = app.submit_ok("score", long_spec(&x, 30)).await;
    let job = app
        .wait_job(&id, Duration::from_secs(60), |j| {
            j["status"] == "running" && j["progress"].as_f64().unwrap_or(0.0) > 0.0
        })
        .await;
    assert!(
        job["reproducibility"]["worker"]
            .as_str()
            .unwrap_or_default()
            .starts_with("first"),
        "{job}"
    );
    let second = KillOnDrop(spawn_worker("second"));
    first.0.kill().expect("kill -9"); // SIGKILL: no cleanup, the lease just stops being renewed
    first.0.wait().expect("reap");

    let job = app.wait_finished(&id, Duration::from_secs(120)).await;
    drop(second);
    assert_eq!(job["status"], "succeeded", "{job}");
    assert_eq!(job["attempts"], 2, "{job}");
    assert!(
        job["reproducibility"]["worker"]
            .as_str()
            .unwrap_or_default()
            .starts_with("second"),
        "{job}"
    );
    let store = Store::connect(&app.database_url, 2).await.expect("store");
    let events = store.events_after(&id, 0, 10_000).await.expect("events");
    let statuses: Vec<_> = events
        .iter()
        .filter(|e| e.kind == "status")
        .map(|e| e.data["status"].clone())
        .collect();
    assert_eq!(
        statuses,
        [
            json!("queued"),
            json!("running"),
            json!("running"),
            json!("succeeded")
        ]
    );
    assert_eq!(
        job["artifacts"].as_array().map(Vec::len),
        Some(1),
        "one result table"
    );
}

#[test]
fn storage_args_are_plain() {
    // Guard for the helper: the blob directory and URL pass through unchanged.
    let s = storage_args("sqlite://x.db", std::path::Path::new("/tmp/b"));
    assert_eq!(s.database_url(), "sqlite://x.db");
    assert_eq!(s.blob_store, "/tmp/b");
}

/// A child process killed (SIGKILL) and reaped when dropped, so that a failing test leaves no
/// worker behind.
struct KillOnDrop(std::process::Child);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}
