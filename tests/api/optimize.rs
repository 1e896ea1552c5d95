//! The `optimize` job over HTTP: a built-in target, the analyses, plots and arrays as artifacts.

use std::time::Duration;

use reqwest::StatusCode;
use serde_json::json;

use crate::helpers::{Backend, Options, assert_problem, spawn_app};
use crate::on_both_backends;

async fn optimize_job(backend: Backend) {
    let Some(app) = spawn_app(backend, Options::default()).await else {
        return;
    };
    let spec = json!({
        "target": {"builtin": "ultrametric"},
        "settings": {"measures": ["cka"], "stop_score": 0.99, "max_iter": 300, "snapshot_every": 5},
        "analyses": {"pc_capture": true, "decoding": true},
        "seed": 11
    });
    let id = app.submit_ok("optimize", spec).await;
    let job = app.wait_finished(&id, Duration::from_secs(300)).await;
    assert_eq!(job["status"], "succeeded", "{job}");
    let o = &job["result"]["optimization"];
    assert_eq!(o["stop_reason"], "stop_score", "{o}");
    assert!(o["final_score"].as_f64().unwrap_or(0.0) > 0.99);
    // The default run is float32, and the reproducibility record says so.
    assert_eq!(o["dtype"], "f32", "{o}");
    assert_eq!(job["reproducibility"]["dtype"], "float32", "{job}");
    assert_eq!(job["reproducibility"]["seed"], 11, "{job}");
    let pcs = &job["result"]["pc_capture"];
    assert!(
        pcs["explained_variance_ratio"]
            .as_array()
            .is_some_and(|v| !v.is_empty())
    );
    let dec = &job["result"]["decoding"]["normalized_accuracy"];
    assert!(dec.as_array().is_some_and(|v| !v.is_empty()), "{job}");
    let names: Vec<&str> = job["artifacts"]
        .as_array()
        .expect("artifacts")
        .iter()
        .filter_map(|a| a["name"].as_str())
        .collect();
    for expected in [
        "Y_final.npy",
        "snapshots.npz",
        "score.png",
        "pc_capture.png",
        "decoding.png",
    ] {
        assert!(
            names.contains(&expected),
            "{expected} missing from {names:?}"
        );
    }
    let resp = app
        .request(
            reqwest::Method::GET,
            &format!("/v1/jobs/{id}/artifacts/score.png"),
        )
        .send()
        .await
        .expect("png");
    assert_eq!(resp.headers()["content-type"], "image/png");
    assert!(resp.bytes().await.expect("bytes").starts_with(b"\x89PNG"));
    let resp = app
        .request(
            reqwest::Method::GET,
            &format!("/v1/jobs/{id}/artifacts/Y_final.npy"),
        )
        .send()
        .await
        .expect("npy");
    let y =
        simscore_core::formats::load_bytes(&resp.bytes().await.expect("bytes"), "Y").expect("npy");
    assert_eq!(y[0].1.shape, vec![100, 50]);

    // Invalid specs are refused before anything is queued.
    for (case, spec) in [
        (
            "not differentiable",
            json!({"target": {"builtin": "ultrametric"}, "settings": {"measures": ["rsa-rdm=correlation-compare=spearman"]}}),
        ),
        (
            "unknown built-in",
            json!({"target": {"builtin": "mante"}, "settings": {"measures": ["cka"]}}),
        ),
        (
            "no target",
            json!({"target": {}, "settings": {"measures": ["cka"]}}),
        ),
        (
            "unknown setting",
            json!({"target": {"builtin": "toy2d"}, "settings": {"measures": ["cka"], "learning_rate": 1}}),
        ),
    ] {
        let (status, body) = app.submit("optimize", spec).await;
        assert_problem(status, &body, StatusCode::UNPROCESSABLE_ENTITY, case);
    }
}
on_both_backends!(optimize_job);
