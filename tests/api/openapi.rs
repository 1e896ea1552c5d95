//! The committed OpenAPI document is the one the code generates.

#[test]
fn committed_openapi_matches_the_code() {
    let generated = simscore::api::openapi()
        .to_pretty_json()
        .expect("serialize");
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/openapi/openapi.json");
    let committed = std::fs::read_to_string(path).unwrap_or_default();
    if std::env::var_os("SIMSCORE_UPDATE_OPENAPI").is_some() {
        std::fs::write(path, format!("{generated}\n")).expect("write openapi.json");
        return;
    }
    assert!(
        committed.trim_end() == generated.trim_end(),
        "openapi/openapi.json is stale: regenerate it with `SIMSCORE_UPDATE_OPENAPI=1 cargo test --test api openapi` (or `cargo run -- openapi > openapi/openapi.json`)"
    );
}

#[test]
fn every_operation_is_documented() {
    let doc = serde_json::to_value(simscore::api::openapi()).expect("json");
    assert_eq!(
        doc["openapi"].as_str().map(|v| v.starts_with("3.1")),
        Some(true)
    );
    assert!(doc["info"]["license"]["name"].is_string());
    let paths = doc["paths"].as_object().expect("paths");
    for route in [
        "/v1/datasets",
        "/v1/datasets/{id}",
        "/v1/datasets/{id}/content",
        "/v1/jobs",
        "/v1/jobs/{id}",
        "/v1/jobs/{id}/cancel",
        "/v1/jobs/{id}/events",
        "/v1/jobs/{id}/artifacts/{name}",
        "/v1/measures",
        "/v1/score",
        "/v1/version",
        "/healthz",
        "/readyz",
        "/metrics",
    ] {
        let ops = paths
            .get(route)
            .and_then(|p| p.as_object())
            .unwrap_or_else(|| panic!("{route} is missing"));
        for (method, op) in ops {
            let responses = op["responses"]
                .as_object()
                .unwrap_or_else(|| panic!("{method} {route}: no responses"));
            assert!(!responses.is_empty(), "{method} {route}");
            for (code, r) in responses {
                assert!(
                    r["description"].as_str().is_some_and(|d| !d.is_empty()),
                    "{method} {route} {code}: no description"
                );
            }
            assert!(
                op["summary"].is_string() || op["description"].is_string(),
                "{method} {route}: undocumented"
            );
        }
    }
}
