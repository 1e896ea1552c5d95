//! The whole path a lab script takes: token, upload, submit, events, result, artifact download;
//! plus isolation between users.

use std::time::Duration;

use futures::StreamExt;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::helpers::{Backend, Options, assert_problem, matrix, spawn_app};
use crate::on_both_backends;

async fn lifecycle(backend: Backend) {
    let Some(app) = spawn_app(backend, Options::default()).await else {
        return;
    };
    let token = app.create_token("alice", false);
    // Once a token exists, anonymous requests are refused.
    let (status, body) = app.get("/v1/datasets").await;
    assert_problem(
        status,
        &body,
        StatusCode::UNAUTHORIZED,
        "anonymous after token creation",
    );
    let alice = app.as_user(&token);

    let x = matrix(40, 12, 1);
    let y = matrix(40, 9, 2);
    let x_id = alice.upload_ok(&x, "x.npy").await;
    let y_id = alice.upload_ok(&y, "y.npy").await;
    let (status, ds) = alice.get(&format!("/v1/datasets/{x_id}")).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(ds["arrays"][0]["shape"], json!([40, 12]));
    assert_eq!(ds["arrays"][0]["dtype"], "float64");
    assert_eq!(ds["sha256"].as_str().map(str::len), Some(64));

    // Uploading the same bytes again returns the same dataset.
    let (status, again) = alice
        .upload(simscore_core::formats::npy_bytes(&x), "x-again.npy")
        .await;
    assert_eq!(status, StatusCode::OK, "{again}");
    assert_eq!(again["id"], ds["id"]);

    // Content round trip, with ETag and Range.
    let resp = alice
        .request(Method::GET, &format!("/v1/datasets/{x_id}/content"))
        .send()
        .await
        .expect("download");
    assert_eq!(resp.status(), StatusCode::OK);
    let etag = resp.headers()["etag"].to_str().expect("etag").to_string();
    assert_eq!(etag, format!("\"{}\"", ds["sha256"].as_str().expect("sha")));
    let bytes = resp.bytes().await.expect("bytes");
    assert_eq!(
        bytes.as_ref(),
        simscore_core::formats::npy_bytes(&x).as_slice()
    );
    let resp = alice
        .request(Method::GET, &format!("/v1/datasets/{x_id}/content"))
        .header("range", "bytes=0-5")
        .send()
        .await
        .expect("range");
    assert_eq!(resp.status(), StatusCode::PARTIAL_CONTENT);
    assert_eq!(resp.bytes().await.expect("bytes").as_ref(), b"\x93NUMPY");
    let resp = alice
        .request(Method::GET, &format!("/v1/datasets/{x_id}/content"))
        .header("if-none-match", &etag)
        .send()
        .await
        .expect("conditional");
    assert_eq!(resp.status(), StatusCode::NOT_MODIFIED);

    // Submit, follow the events to the end, read the result.
    let measures = ["cka", "procrustes-angular-score"];
    let job_id = alice
        .submit_ok(
            "score",
            json!({"x": {"dataset": x_id}, "y": {"dataset": y_id}, "measures": measures, "seed": 7}),
        )
        .await;
    let resp = alice
        .request(Method::GET, &format!("/v1/jobs/{job_id}/events"))
        .send()
        .await
        .expect("events");
    assert_eq!(resp.status(), StatusCode::OK);
    assert!(
        resp.headers()["content-type"]
            .to_str()
            .unwrap_or_default()
            .starts_with("text/event-stream")
    );
    let events = tokio::time::timeout(Duration::from_secs(60), read_sse(resp))
        .await
        .expect("the event stream ends when the job ends");
    let statuses: Vec<&str> = events
        .iter()
        .filter(|(kind, _, _)| kind == "status")
        .filter_map(|(_, _, data)| data["status"].as_str())
        .collect();
    assert_eq!(statuses, ["queued", "running", "succeeded"], "{events:?}");
    let ids: Vec<i64> = events.iter().map(|(_, id, _)| *id).collect();
    assert!(
        ids.windows(2).all(|w| w[0] < w[1]),
        "event ids increase: {ids:?}"
    );

    // Resuming with Last-Event-ID replays only what came after.
    let resume_after = ids[0];
    let resp = alice
        .request(Method::GET, &format!("/v1/jobs/{job_id}/events"))
        .header("last-event-id", resume_after.to_string())
        .send()
        .await
        .expect("events");
    let resumed = read_sse(resp).await;
    assert_eq!(resumed.first().map(|e| e.1), ids.get(1).copied());
    assert_eq!(resumed.len(), events.len() - 1);

    let (status, job) = alice.get(&format!("/v1/jobs/{job_id}")).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(job["status"], "succeeded", "{job}");
    assert_eq!(job["attempts"], 1);
    assert_eq!(job["progress"], 1.0);
    let scores = job["result"]["scores"].as_array().expect("scores");
    let xm = x.to_mat().expect("x");
    let ym = y.to_mat().expect("y");
    for (m, cell) in measures.iter().zip(scores) {
        let expected = simscore_core::measures::score(m, xm.as_ref(), ym.as_ref()).expect("direct");
        assert_eq!(cell["measure"], *m);
        let got = cell["value"].as_f64().expect("value");
        assert!(
            (got - expected).abs() <= 1e-12 * expected.abs(),
            "{m}: {got} vs {expected}"
        );
    }
    // Reproducibility record.
    let repro = &job["reproducibility"];
    assert_eq!(repro["seed"], 7);
    assert_eq!(repro["device"], "cpu");
    assert!(repro["git_sha"].is_string() && repro["simscore_version"].is_string());
    let input_shas: Vec<&str> = repro["inputs"]
        .as_array()
        .expect("inputs")
        .iter()
        .filter_map(|i| i["sha256"].as_str())
        .collect();
    assert_eq!(input_shas.len(), 2);
    assert!(input_shas.contains(&ds["sha256"].as_str().expect("sha")));

    // Artifact download.
    let artifact = &job["artifacts"][0];
    assert_eq!(artifact["name"], "scores.csv");
    let resp = alice
        .request(Method::GET, artifact["url"].as_str().expect("url"))
        .send()
        .await
        .expect("artifact");
    assert_eq!(resp.status(), StatusCode::OK);
    let csv = resp.text().await.expect("csv");
    assert!(csv.starts_with("x,y,measure,value,error\n"), "{csv}");
    assert_eq!(csv.lines().count(), 1 + measures.len(), "{csv}");

    // Listing, filtering and pagination.
    let (_, page) = alice
        .get("/v1/jobs?kind=score&status=succeeded&limit=1")
        .await;
    assert_eq!(page["items"][0]["id"], job_id.as_str());
    let (_, datasets) = alice.get("/v1/datasets?limit=1").await;
    let cursor = datasets["next_cursor"].as_str().expect("a second page");
    let (_, second) = alice
        .get(&format!("/v1/datasets?limit=1&cursor={cursor}"))
        .await;
    assert_eq!(second["items"].as_array().map(Vec::len), Some(1));
    assert_ne!(second["items"][0]["id"], datasets["items"][0]["id"]);
    assert!(second["next_cursor"].is_null());

    // Deleting: the dataset and then its blob disappear.
    let resp = alice
        .request(Method::DELETE, &format!("/v1/datasets/{y_id}"))
        .send()
        .await
        .expect("delete");
    assert_eq!(resp.status(), StatusCode::NO_CONTENT);
    let (status, _) = alice.get(&format!("/v1/datasets/{y_id}")).await;
    assert_eq!(status, StatusCode::NOT_FOUND);

    // Metrics saw all of this.
    let (status, metrics) = alice.get("/metrics").await;
    assert_eq!(status, StatusCode::OK);
    let metrics = metrics.as_str().unwrap_or_default().to_string();
    assert!(
        metrics.contains(r#"simscore_jobs{kind="score",status="succeeded"} 1"#),
        "{metrics}"
    );
    assert!(metrics.contains(r#"route="/v1/jobs/{id}""#), "{metrics}");
    assert!(
        metrics
            .contains("simscore_job_duration_seconds_count{kind=\"score\",status=\"succeeded\"} 1"),
        "{metrics}"
    );
}
on_both_backends!(lifecycle);

/// Reads a whole SSE stream into (event, id, data) triples.
async fn read_sse(resp: reqwest::Response) -> Vec<(String, i64, Value)> {
    let mut body = String::new();
    let mut stream = resp.bytes_stream();
    while let Some(chunk) = stream.next().await {
        body.push_str(&String::from_utf8_lossy(&chunk.expect("chunk")));
    }
    body.split("\n\n")
        .filter_map(|block| {
            let (mut kind, mut id, mut data) = (String::new(), None, None);
            for line in block.lines() {
                if let Some(v) = line.strip_prefix("event:") {
                    kind = v.trim().to_string();
                } else if let Some(v) = line.strip_prefix("id:") {
                    id = v.trim().parse().ok();
                } else if let Some(v) = line.strip_prefix("data:") {
                    data = serde_json::from_str(v.trim()).ok();
                }
            }
            Some((kind, id?, data?))
        })
        .collect()
}

async fn isolation(backend: Backend) {
    let Some(app) = spawn_app(backend, Options::default()).await else {
        return;
    };
    let a = app.as_user(&app.create_token("a", false));
    let b = app.as_user(&app.create_token("b", false));
    let admin = app.as_user(&app.create_token("root", true));
    let x = a.upload_ok(&matrix(20, 4, 3), "x").await;
    let job = a
        .submit_ok(
            "score",
            json!({"x": {"dataset": x}, "y": {"dataset": x}, "measures": ["cka"]}),
        )
        .await;
    a.wait_finished(&job, Duration::from_secs(60)).await;

    let gets = [
        format!("/v1/datasets/{x}"),
        format!("/v1/datasets/{x}/content"),
        format!("/v1/jobs/{job}"),
        format!("/v1/jobs/{job}/events"),
        format!("/v1/jobs/{job}/artifacts/scores.csv"),
    ];
    for path in &gets {
        let (status, body) = b.get(path).await;
        assert_problem(
            status,
            &body,
            StatusCode::NOT_FOUND,
            &format!("B GET {path}"),
        );
        let (status, _) = admin.get(path).await;
        assert_eq!(status, StatusCode::OK, "admin GET {path}");
    }
    let (status, body) = b
        .post_json(&format!("/v1/jobs/{job}/cancel"), &json!({}))
        .await;
    assert_problem(status, &body, StatusCode::NOT_FOUND, "B cancels A's job");
    let resp = b
        .request(Method::DELETE, &format!("/v1/datasets/{x}"))
        .send()
        .await
        .expect("delete");
    assert_eq!(
        resp.status(),
        StatusCode::NOT_FOUND,
        "B deletes A's dataset"
    );
    // B cannot use A's dataset in a job either, and does not see A's objects in listings.
    let (status, body) = b
        .submit(
            "score",
            json!({"x": {"dataset": x}, "y": {"dataset": x}, "measures": ["cka"]}),
        )
        .await;
    assert_problem(
        status,
        &body,
        StatusCode::UNPROCESSABLE_ENTITY,
        "B submits with A's dataset",
    );
    let (_, list) = b.get("/v1/datasets").await;
    assert_eq!(list["items"], json!([]));
    let (_, list) = b.get("/v1/jobs").await;
    assert_eq!(list["items"], json!([]));
    let (_, list) = admin.get("/v1/jobs").await;
    assert_eq!(list["items"].as_array().map(Vec::len), Some(1));
    // A still sees everything.
    let (status, _) = a.get(&format!("/v1/jobs/{job}")).await;
    assert_eq!(status, StatusCode::OK);
}
on_both_backends!(isolation);

#[tokio::test]
async fn single_user_mode_needs_no_token_until_one_exists() {
    let Some(app) = spawn_app(Backend::Sqlite, Options::default()).await else {
        return;
    };
    let (status, _) = app.get("/v1/datasets").await;
    assert_eq!(status, StatusCode::OK);
    let (status, v) = app.get("/v1/version").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(v["database"], "sqlite");
    let (status, _) = app.get("/readyz").await;
    assert_eq!(status, StatusCode::OK);
    let resp = app
        .request(Method::GET, "/docs/")
        .send()
        .await
        .expect("docs");
    assert_eq!(resp.status(), StatusCode::OK, "Swagger UI is served");
    assert!(resp.text().await.unwrap_or_default().contains("swagger"));
}

#[test]
fn serve_refuses_a_public_address_without_tokens() {
    let dir = tempfile::tempdir().expect("dir");
    let out = crate::helpers::simscore_bin()
        .args(["serve", "--bind", "0.0.0.0:0"])
        .env(
            "SIMSCORE_DATABASE_URL",
            format!("sqlite://{}/db.sqlite", dir.path().display()),
        )
        .env("SIMSCORE_BLOB_STORE", dir.path().join("blobs"))
        .output()
        .expect("run");
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("refusing to listen"), "{stderr}");
}
