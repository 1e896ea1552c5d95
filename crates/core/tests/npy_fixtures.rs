//! Reads files written by numpy itself (see `fixtures/make_npy_fixtures.py`) and checks them
//! against `fixtures/npy/expected.json`: shapes, dtypes and values for good files, the error
//! variant and message for bad ones, through `load_file`, `load_bytes` and `inspect_file`.

use std::path::{Path, PathBuf};

use serde_json::Value;
use simscore_core::array::Dtype;
use simscore_core::formats::{FormatError, inspect_file, load_bytes, load_file, npz_bytes};

fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/npy")
}

fn expected() -> serde_json::Map<String, Value> {
    let text = std::fs::read_to_string(fixtures().join("expected.json")).expect("expected.json");
    match serde_json::from_str(&text).expect("valid JSON") {
        Value::Object(map) => map,
        other => panic!("expected.json is not an object: {other}"),
    }
}

fn variant(e: &FormatError) -> &'static str {
    match e {
        FormatError::UnsupportedDtype { .. } => "UnsupportedDtype",
        FormatError::ObjectDtype { .. } => "ObjectDtype",
        FormatError::NonFinite { .. } => "NonFinite",
        FormatError::Truncated { .. } => "Truncated",
        _ => "other",
    }
}

fn dtype_of(name: &str) -> Dtype {
    serde_json::from_value(Value::String(name.to_string()))
        .unwrap_or_else(|e| panic!("dtype {name}: {e}"))
}

#[test]
fn formats_numpy_written_files_match_expectations() {
    let expected = expected();
    assert!(expected.len() >= 20, "fixtures missing: {}", expected.len());
    for (file, want) in &expected {
        let path = fixtures().join(file);
        let bytes = std::fs::read(&path).unwrap_or_else(|e| panic!("{file}: {e}"));
        if let Some(error) = want.get("error") {
            let fragment = want["message_contains"].as_str().unwrap_or_default();
            for result in [
                load_file(&path, "X").map(|_| ()),
                load_bytes(&bytes, "X").map(|_| ()),
                inspect_file(&path, "X").map(|_| ()),
            ] {
                let e = result.expect_err(file);
                assert_eq!(
                    variant(&e),
                    error.as_str().unwrap_or_default(),
                    "{file}: {e}"
                );
                let msg = e.to_string();
                assert!(msg.contains(fragment), "{file}: '{msg}' lacks '{fragment}'");
            }
            continue;
        }
        let arrays = want["arrays"].as_array().expect("arrays");
        let loaded = load_file(&path, "X").unwrap_or_else(|e| panic!("{file}: {e}"));
        assert_eq!(loaded, load_bytes(&bytes, "X").unwrap(), "{file}");
        let info = inspect_file(&path, "X").unwrap_or_else(|e| panic!("{file}: {e}"));
        assert_eq!(loaded.len(), arrays.len(), "{file}");
        assert_eq!(info.len(), arrays.len(), "{file}");
        for (((name, array), info), want) in loaded.iter().zip(&info).zip(arrays) {
            let shape: Vec<usize> = serde_json::from_value(want["shape"].clone()).unwrap();
            let values: Vec<f64> = serde_json::from_value(want["values"].clone()).unwrap();
            let dtype = dtype_of(want["dtype"].as_str().unwrap_or_default());
            assert_eq!(name, want["name"].as_str().unwrap_or_default(), "{file}");
            assert_eq!(array.shape, shape, "{file} {name}");
            assert_eq!(array.dtype, dtype, "{file} {name}");
            assert_eq!(array.data, values, "{file} {name}");
            assert_eq!((&info.name, &info.shape, info.dtype), (name, &shape, dtype));
        }
    }
}

/// What we write, numpy reads: our npz of the loaded fixture arrays loads back identically.
#[test]
fn formats_rewriting_fixtures_round_trips() {
    let loaded = load_file(&fixtures().join("savez.npz"), "X").unwrap();
    let refs: Vec<(&str, &simscore_core::array::Array)> =
        loaded.iter().map(|(n, a)| (n.as_str(), a)).collect();
    let again = load_bytes(&npz_bytes(&refs), "X").unwrap();
    for ((n1, a1), (n2, a2)) in loaded.iter().zip(&again) {
        assert_eq!(n1, n2);
        assert_eq!((&a1.shape, &a1.data), (&a2.shape, &a2.data));
    }
}
