//! Bad input: every case is answered 4xx problem+json, stores nothing, and never 5xx.

use reqwest::{Method, StatusCode};
use serde_json::json;

use crate::helpers::{Backend, Options, assert_problem, matrix, send, spawn_app};
use crate::on_both_backends;
use simscore_core::array::{Array, Dtype};
use simscore_core::measures;

/// A hand-made .npy with any header dict and payload.
fn npy(descr: &str, shape: &str, payload: &[u8]) -> Vec<u8> {
    let mut header = format!("{{'descr': '{descr}', 'fortran_order': False, 'shape': {shape}, }}");
    while (10 + header.len() + 1) % 64 != 0 {
        header.push(' ');
    }
    header.push('\n');
    let mut out = b"\x93NUMPY\x01\x00".to_vec();
    out.extend_from_slice(&(header.len() as u16).to_le_bytes());
    out.extend_from_slice(header.as_bytes());
    out.extend_from_slice(payload);
    out
}

async fn bad_uploads(backend: Backend) {
    let Some(app) = spawn_app(
        backend,
        Options {
            max_upload_mb: 1,
            ..Options::default()
        },
    )
    .await
    else {
        return;
    };
    let good = simscore_core::formats::npy_bytes(&matrix(4, 3, 1));
    let mut nan = matrix(4, 3, 1);
    nan.data[5] = f64::NAN;
    let mut inf = matrix(4, 3, 1);
    inf.data[2] = f64::INFINITY;
    let cases: Vec<(&str, Vec<u8>, StatusCode)> = vec![
        (
            "truncated npy",
            good[..good.len() - 7].to_vec(),
            StatusCode::UNPROCESSABLE_ENTITY,
        ),
        (
            "wrong magic",
            b"PK-not-really-a-file-at-all".to_vec(),
            StatusCode::UNPROCESSABLE_ENTITY,
        ),
        (
            "complex dtype",
            npy("<c16", "(2, 2)", &[0u8; 64]),
            StatusCode::UNPROCESSABLE_ENTITY,
        ),
        (
            "object dtype",
            npy("|O", "(2,)", &[0u8; 16]),
            StatusCode::UNPROCESSABLE_ENTITY,
        ),
        (
            "NaN values",
            simscore_core::formats::npy_bytes(&nan),
            StatusCode::UNPROCESSABLE_ENTITY,
        ),
        (
            "Inf values",
            simscore_core::formats::npy_bytes(&inf),
            StatusCode::UNPROCESSABLE_ENTITY,
        ),
        (
            "zero rows",
            npy("<f8", "(0, 5)", &[]),
            StatusCode::UNPROCESSABLE_ENTITY,
        ),
        ("empty body", Vec::new(), StatusCode::UNPROCESSABLE_ENTITY),
        (
            "over the size limit",
            vec![0u8; (1 << 20) + 1],
            StatusCode::PAYLOAD_TOO_LARGE,
        ),
    ];
    for (case, bytes, expected) in cases {
        let (status, body) = app.upload(bytes, "bad").await;
        assert_problem(status, &body, expected, case);
    }
    let (_, list) = app.get("/v1/datasets").await;
    assert_eq!(list["items"], json!([]), "nothing was stored");
    let staged = std::fs::read_dir(app.blob_dir.join(".staging"))
        .map(|d| d.count())
        .unwrap_or(0);
    assert_eq!(staged, 0, "staging files are removed");
    let blobs = std::fs::read_dir(&app.blob_dir)
        .map(|d| {
            d.filter_map(Result::ok)
                .filter(|e| e.file_name() != ".staging")
                .count()
        })
        .unwrap_or(0);
    assert_eq!(blobs, 0, "no blob was written");
}
on_both_backends!(bad_uploads);

async fn bad_jobs(backend: Backend) {
    let Some(app) = spawn_app(backend, Options::default()).await else {
        return;
    };
    let x = app.upload_ok(&matrix(10, 4, 1), "x").await;
    let y = app.upload_ok(&matrix(12, 4, 2), "y").await;
    let z = app.upload_ok(&matrix(10, 30, 3), "z").await;
    let labels = Array::new(
        vec![10],
        Dtype::Int64,
        (0..10).map(|i| (i % 2) as f64).collect(),
    );
    let npz = simscore_core::formats::npz_bytes(&[("X", &matrix(10, 4, 4)), ("labels", &labels)]);
    let (status, body) = app.upload(npz, "task.npz").await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    let npz_id = body["id"].as_str().expect("id").to_string();

    let ok_spec = json!({"x": {"dataset": x}, "y": {"dataset": x}, "measures": ["cka"]});
    let cases = vec![
        (
            "unknown job kind",
            json!({"kind": "sorcery", "spec": ok_spec}),
            StatusCode::UNPROCESSABLE_ENTITY,
        ),
        (
            "unknown measure",
            json!({"kind": "score", "spec": {"x": {"dataset": x}, "y": {"dataset": x}, "measures": ["ckaa"]}}),
            StatusCode::UNPROCESSABLE_ENTITY,
        ),
        (
            "X and Y with different row counts",
            json!({"kind": "score", "spec": {"x": {"dataset": x}, "y": {"dataset": y}, "measures": ["cka"]}}),
            StatusCode::UNPROCESSABLE_ENTITY,
        ),
        (
            "missing dataset",
            json!({"kind": "score", "spec": {"x": {"dataset": "nope"}, "y": {"dataset": x}, "measures": ["cka"]}}),
            StatusCode::UNPROCESSABLE_ENTITY,
        ),
        (
            "unknown field in spec",
            json!({"kind": "score", "spec": {"x": {"dataset": x}, "y": {"dataset": x}, "measures": ["cka"], "colour": "red"}}),
            StatusCode::UNPROCESSABLE_ENTITY,
        ),
        (
            "unknown field in request",
            json!({"kind": "score", "spec": ok_spec, "urgent": true}),
            StatusCode::UNPROCESSABLE_ENTITY,
        ),
        (
            "no measures",
            json!({"kind": "score", "spec": {"x": {"dataset": x}, "y": {"dataset": x}, "measures": []}}),
            StatusCode::UNPROCESSABLE_ENTITY,
        ),
        (
            "ambiguous npz array",
            json!({"kind": "score", "spec": {"x": {"dataset": npz_id}, "y": {"dataset": x}, "measures": ["cka"]}}),
            StatusCode::UNPROCESSABLE_ENTITY,
        ),
        (
            "1-D array as a representation",
            json!({"kind": "score", "spec": {"x": {"dataset": npz_id, "array": "labels"}, "y": {"dataset": x}, "measures": ["cka"]}}),
            StatusCode::UNPROCESSABLE_ENTITY,
        ),
        (
            "measure requirement (CCA needs p < n)",
            json!({"kind": "score", "spec": {"x": {"dataset": z}, "y": {"dataset": z}, "measures": ["cca-score"]}}),
            StatusCode::UNPROCESSABLE_ENTITY,
        ),
        (
            "spec of the wrong type",
            json!({"kind": "score", "spec": [1, 2]}),
            StatusCode::UNPROCESSABLE_ENTITY,
        ),
    ];
    for (case, body, expected) in cases {
        let (status, resp) = app.post_json("/v1/jobs", &body).await;
        assert_problem(status, &resp, expected, case);
    }
    // Malformed JSON and a wrong content type.
    let (status, body) = send(
        app.request(Method::POST, "/v1/jobs")
            .header("content-type", "application/json")
            .body("{\"kind\": \"score\", "),
    )
    .await;
    assert_problem(status, &body, StatusCode::BAD_REQUEST, "malformed JSON");
    let (status, body) = send(app.request(Method::POST, "/v1/jobs").body("kind=score")).await;
    assert_problem(
        status,
        &body,
        StatusCode::UNSUPPORTED_MEDIA_TYPE,
        "not JSON",
    );
    let (status, body) = app.get("/v1/jobs/does-not-exist").await;
    assert_problem(status, &body, StatusCode::NOT_FOUND, "unknown job id");

    let (_, list) = app.get("/v1/jobs").await;
    assert_eq!(list["items"], json!([]), "nothing was enqueued");

    // The npz arrays are usable by name.
    let (status, body) = app
        .submit("score", json!({"x": {"dataset": npz_id, "array": "X"}, "y": {"dataset": x}, "measures": ["cka"]}))
        .await;
    assert_eq!(status, StatusCode::ACCEPTED, "{body}");
}
on_both_backends!(bad_jobs);

async fn idempotency(backend: Backend) {
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
    let x = app.upload_ok(&matrix(10, 4, 1), "x").await;
    let body = json!({"kind": "score", "spec": {"x": {"dataset": x}, "y": {"dataset": x}, "measures": ["cka"], "seed": 1}});
    let submit = |key: &'static str, body: serde_json::Value| {
        let req = app
            .request(Method::POST, "/v1/jobs")
            .header("idempotency-key", key)
            .json(&body);
        send(req)
    };
    let (s1, j1) = submit("k1", body.clone()).await;
    let (s2, j2) = submit("k1", body.clone()).await;
    assert_eq!(s1, StatusCode::ACCEPTED, "{j1}");
    assert_eq!(s2, StatusCode::OK, "{j2}");
    assert_eq!(j1["id"], j2["id"]);
    let mut other = body.clone();
    other["spec"]["measures"] = json!(["nbs"]);
    let (s3, j3) = submit("k1", other).await;
    assert_problem(s3, &j3, StatusCode::CONFLICT, "same key, different request");
    // Concurrent duplicates create one job.
    let (a, b) = tokio::join!(submit("k2", body.clone()), submit("k2", body.clone()));
    assert_eq!(a.1["id"], b.1["id"], "{a:?} {b:?}");
    let (_, list) = app.get("/v1/jobs").await;
    assert_eq!(list["items"].as_array().map(Vec::len), Some(2));
}
on_both_backends!(idempotency);

async fn sync_score(backend: Backend) {
    let Some(app) = spawn_app(
        backend,
        Options {
            sync_score_max_values: 1000,
            ..Options::default()
        },
    )
    .await
    else {
        return;
    };
    let small = matrix(20, 10, 1);
    let x = app.upload_ok(&small, "x").await;
    let big = app.upload_ok(&matrix(100, 20, 2), "big").await;
    let (status, body) = app
        .post_json(
            "/v1/score",
            &json!({"x": {"dataset": x}, "y": {"dataset": x}, "measures": ["cka", "nbs"]}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert!(
        (body["result"]["scores"][0]["value"]
            .as_f64()
            .expect("value")
            - 1.0)
            .abs()
            < 1e-12
    );
    let (status, body) = app
        .post_json(
            "/v1/score",
            &json!({"x": {"dataset": big}, "y": {"dataset": big}, "measures": ["cka"]}),
        )
        .await;
    assert_problem(
        status,
        &body,
        StatusCode::UNPROCESSABLE_ENTITY,
        "too big for sync",
    );
    assert_eq!(body["type"], "urn:simscore:problem:use-a-job");
    let (status, list) = app.get("/v1/measures").await;
    assert_eq!(status, StatusCode::OK);
    assert!(list.as_array().is_some_and(|l| l.iter().any(|m| {
        m["aliases"]
            .as_array()
            .is_some_and(|a| a.contains(&json!("cka")))
    })));
}
on_both_backends!(sync_score);

async fn statistics(backend: Backend) {
    let Some(app) = spawn_app(backend, Options::default()).await else {
        return;
    };
    let x = app.upload_ok(&matrix(30, 6, 1), "x").await;
    let y = app.upload_ok(&matrix(30, 5, 2), "y").await;
    let spec = json!({"x": {"dataset": x}, "y": {"dataset": y}, "measures": ["cka", "procrustes-angular-score"],
                      "permutations": 99, "bootstrap": 50, "seed": 3});
    let id = app.submit_ok("score", spec.clone()).await;
    let job = app
        .wait_finished(&id, std::time::Duration::from_secs(60))
        .await;
    assert_eq!(job["status"], "succeeded", "{job}");
    let cell = &job["result"]["scores"][0];
    let p = cell["permutation"]["p_value"].as_f64().expect("p-value");
    assert!((1.0 / 100.0..=1.0).contains(&p), "{cell}");
    let (lo, hi) = (
        cell["bootstrap"]["ci_low"].as_f64().expect("lo"),
        cell["bootstrap"]["ci_high"].as_f64().expect("hi"),
    );
    assert!(lo <= hi && lo >= 0.0 && hi <= 1.0, "{cell}");
    // Seeded: the same spec gives the same numbers.
    let again = app.submit_ok("score", spec).await;
    let job2 = app
        .wait_finished(&again, std::time::Duration::from_secs(60))
        .await;
    assert_eq!(job["result"], job2["result"]);
    // Bad statistics parameters are refused up front.
    let (status, body) = app
        .submit("score", json!({"x": {"dataset": x}, "y": {"dataset": y}, "measures": ["cka"], "confidence": 1.5}))
        .await;
    assert_problem(
        status,
        &body,
        StatusCode::UNPROCESSABLE_ENTITY,
        "confidence out of range",
    );
}
on_both_backends!(statistics);

#[test]
fn cli_scores_local_files() {
    let dir = tempfile::tempdir().expect("dir");
    let x = matrix(25, 4, 1);
    let y = matrix(25, 3, 2);
    std::fs::write(
        dir.path().join("x.npy"),
        simscore_core::formats::npy_bytes(&x),
    )
    .expect("write");
    std::fs::write(
        dir.path().join("y.npz"),
        simscore_core::formats::npz_bytes(&[("Y", &y)]),
    )
    .expect("write");
    let out = crate::helpers::simscore_bin()
        .current_dir(dir.path())
        .args([
            "score",
            "x.npy",
            "y.npz:Y",
            "-m",
            "cka",
            "-m",
            "nbs",
            "--permutations",
            "20",
            "--json",
        ])
        .output()
        .expect("run");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let result: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json");
    let expected = simscore_core::measures::score(
        "cka",
        x.to_mat().expect("x").as_ref(),
        y.to_mat().expect("y").as_ref(),
    )
    .expect("cka");
    assert_eq!(result["scores"][0]["value"].as_f64(), Some(expected));
    assert!(result["scores"][1]["permutation"]["p_value"].is_number());
    // An unknown measure is a clear error, not a panic.
    let out = crate::helpers::simscore_bin()
        .current_dir(dir.path())
        .args(["score", "x.npy", "y.npz:Y", "-m", "ckaa"])
        .output()
        .expect("run");
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("unknown measure"));
    // A non-finite value is reported with the file it is in, not a generic name.
    let mut bad = matrix(25, 3, 3);
    bad.data[4] = f64::NAN;
    std::fs::write(
        dir.path().join("bad_y.npy"),
        simscore_core::formats::npy_bytes(&bad),
    )
    .expect("write");
    let out = crate::helpers::simscore_bin()
        .current_dir(dir.path())
        .args(["score", "x.npy", "bad_y.npy", "-m", "cka"])
        .output()
        .expect("run");
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("reading bad_y.npy")
            && stderr.contains("array 'bad_y' contains NaN at flat index 4 (row 1, column 1)"),
        "{stderr}"
    );
}

/// A dataset deleted by another process after this server validated a job with it (its metadata
/// is remembered for submissions) is refused at queueing time: 422, nothing queued.
async fn input_deleted_elsewhere(backend: Backend) {
    let Some(app) = spawn_app(backend, Options::default()).await else {
        return;
    };
    let x = app.upload_ok(&matrix(10, 4, 1), "x").await;
    let spec = json!({"x": {"dataset": x}, "y": {"dataset": x}, "measures": ["cka"], "seed": 1});
    let first = app.submit_ok("score", spec.clone()).await;
    let job = app
        .wait_finished(&first, std::time::Duration::from_secs(60))
        .await;
    assert_eq!(job["status"], "succeeded", "{job}");

    // Another API process (its own store) deletes the dataset.
    let other = simscore::store::Store::connect(&app.database_url, 2)
        .await
        .expect("second store");
    let owner = other
        .ensure_user(simscore::auth::LOCAL_USER, simscore::domain::Role::Admin)
        .await
        .expect("user");
    other.delete_dataset(&owner, &x).await.expect("deleted");

    let (status, body) = app.submit("score", spec).await;
    assert_problem(
        status,
        &body,
        StatusCode::UNPROCESSABLE_ENTITY,
        "deleted input",
    );
    assert!(
        body["type"]
            .as_str()
            .unwrap_or("")
            .ends_with("missing-dataset"),
        "{body}"
    );
    let (_, jobs) = app.get("/v1/jobs").await;
    assert_eq!(jobs["items"].as_array().map(Vec::len), Some(1), "{jobs}");
}
on_both_backends!(input_deleted_elsewhere);

/// The diffscore measures cross-validated over conditions need 3-D (time, conditions, units)
/// uploads: they score them with the engine's seeded splits, and refuse 2-D ones up front.
async fn condition_cv(backend: Backend) {
    let Some(app) = spawn_app(backend, Options::default()).await else {
        return;
    };
    let as_3d = |m: Array, shape: Vec<usize>| Array::new(shape, Dtype::Float64, m.data);
    let (x2, y2) = (matrix(40, 6, 1), matrix(40, 5, 2));
    let (x3, y3) = (
        as_3d(x2.clone(), vec![4, 10, 6]),
        as_3d(y2.clone(), vec![4, 10, 5]),
    );
    let ids = ["procrustes-angular-cv", "linreg-cv", "linreg-angular-cv"];
    let (x, y) = (
        app.upload_ok(&x3, "x3").await,
        app.upload_ok(&y3, "y3").await,
    );
    let body = json!({"x": {"dataset": x}, "y": {"dataset": y}, "measures": ids});
    let (status, first) = app.post_json("/v1/score", &body).await;
    assert_eq!(status, StatusCode::OK, "{first}");
    for (k, id) in ids.iter().enumerate() {
        let want = measures::score_in(
            id,
            x2.to_mat().unwrap().as_ref(),
            y2.to_mat().unwrap().as_ref(),
            Some(10),
        )
        .unwrap();
        let got = first["result"]["scores"][k]["value"].as_f64();
        assert_eq!(got, Some(want), "{id}: {first}");
    }
    let (_, again) = app.post_json("/v1/score", &body).await;
    assert_eq!(first["result"], again["result"], "the splits are seeded");
    // the job's permutation test and bootstrap keep the layout
    let spec = json!({"x": {"dataset": x}, "y": {"dataset": y}, "measures": ["linreg-cv"],
                      "permutations": 19, "bootstrap": 10, "seed": 1});
    let id = app.submit_ok("score", spec).await;
    let job = app
        .wait_finished(&id, std::time::Duration::from_secs(60))
        .await;
    assert_eq!(job["status"], "succeeded", "{job}");
    let cell = &job["result"]["scores"][0];
    assert_eq!(
        cell["value"], first["result"]["scores"][1]["value"],
        "{cell}"
    );
    assert!(cell["permutation"]["p_value"].as_f64().is_some(), "{cell}");
    assert!(cell["bootstrap"]["ci_low"].as_f64().is_some(), "{cell}");
    // 2-D inputs, or a 3-D X against a 2-D Y, have no condition axis to split
    let (x2, y2) = (
        app.upload_ok(&x2, "x2").await,
        app.upload_ok(&y2, "y2").await,
    );
    for (x, y) in [(&x2, &y2), (&x, &y2)] {
        let (status, problem) = app
            .post_json(
                "/v1/score",
                &json!({"x": {"dataset": x}, "y": {"dataset": y}, "measures": ["linreg-cv"]}),
            )
            .await;
        assert_problem(
            status,
            &problem,
            StatusCode::UNPROCESSABLE_ENTITY,
            "2-D input",
        );
        let detail = problem["detail"].as_str().unwrap_or_default();
        assert!(detail.contains("3-D (time, conditions, units)"), "{detail}");
    }
}
on_both_backends!(condition_cv);
