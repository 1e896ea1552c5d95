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

/// The allowable-range sweep as a job: the reached region, slopes, plot; bad specs refused.
async fn allowable_range_job(backend: Backend) {
    let Some(app) = spawn_app(backend, Options::default()).await else {
        return;
    };
    let spec = json!({
        "settings": {
            "measures": ["cka", "procrustes-angular-score"],
            "points_per_side": 3,
            "max_iter": 300,
            "optimizer": {"kind": "adam", "lr": 0.03}
        },
        "seed": 5
    });
    let id = app.submit_ok("allowable-range", spec).await;
    let job = app.wait_finished(&id, Duration::from_secs(300)).await;
    assert_eq!(job["status"], "succeeded", "{job}");
    let r = &job["result"];
    assert_eq!(r["measures"][0], "cka-kernel=linear-hsic=gretton-score");
    // (0, 0), six more boundary targets for 3 per side, and (0.99, 0.99).
    let points = r["points"].as_array().expect("points");
    assert_eq!(points.len(), 8, "{r}");
    for p in points {
        let reached = p["reached"].as_array().expect("reached");
        assert!(
            reached.iter().all(|v| v
                .as_f64()
                .is_some_and(|v| (-1e-6..=1.0 + 1e-6).contains(&v))),
            "{p}"
        );
    }
    let area = r["reachable_area"].as_f64().expect("area");
    assert!(area > 0.05 && area < 1.0, "{area}");
    let slopes = &r["slopes"];
    assert!(slopes["slope1"].as_f64().is_some_and(f64::is_finite), "{r}");
    assert!(slopes["slope2"].as_f64().is_some_and(f64::is_finite), "{r}");
    assert_eq!(job["reproducibility"]["seed"], 5);
    let resp = app
        .request(
            reqwest::Method::GET,
            &format!("/v1/jobs/{id}/artifacts/allowable_range.png"),
        )
        .send()
        .await
        .expect("png");
    assert_eq!(resp.headers()["content-type"], "image/png");
    assert!(resp.bytes().await.expect("bytes").starts_with(b"\x89PNG"));

    for (case, spec) in [
        ("one measure", json!({"settings": {"measures": ["cka"]}})),
        (
            "not differentiable",
            json!({"settings": {"measures": ["cka", "rsa-rdm=correlation-compare=spearman"]}}),
        ),
        (
            "too many points",
            json!({"settings": {"measures": ["cka", "nbs"], "points_per_side": 1000}}),
        ),
        (
            "seed in settings",
            json!({"settings": {"measures": ["cka", "nbs"], "seed": 3}}),
        ),
        (
            "empty shape",
            json!({"settings": {"measures": ["cka", "nbs"], "shape": [0, 10]}}),
        ),
    ] {
        let (status, body) = app.submit("allowable-range", spec).await;
        assert_problem(status, &body, StatusCode::UNPROCESSABLE_ENTITY, case);
    }
}
on_both_backends!(allowable_range_job);
