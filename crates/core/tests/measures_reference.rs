//! Agreement with the reference implementations: `tests/fixtures/measures/cases.json` holds seeded
//! (X, Y) pairs and the values the reference packages computed (see `make_fixtures.py` beside it).
//! Each entry is compared at its recorded tolerance: |ours − ref| ≤ tol · max(1, |ref|).
//! Entries where the reference returned NaN (arccos/sqrt of rounding at X = Y, spec pitfall 6)
//! must give a finite value here.

use faer::Mat;
use serde_json::Value;
use simscore_core::measures;

fn mat(v: &Value) -> Mat<f64> {
    let rows = v.as_array().expect("rows");
    let n = rows.len();
    let p = rows[0].as_array().expect("row").len();
    Mat::from_fn(n, p, |i, j| rows[i][j].as_f64().expect("number"))
}

#[test]
fn values_match_reference_implementations() {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../tests/fixtures/measures/cases.json"
    );
    let text = std::fs::read_to_string(path).expect("fixtures present");
    let data: Value = serde_json::from_str(&text).expect("valid json");
    let cases = data["cases"].as_object().expect("cases");
    let mut failures = vec![];
    let mut worst: std::collections::BTreeMap<String, f64> = Default::default();
    let mut compared = 0;
    for e in data["entries"].as_array().expect("entries") {
        let case = e["case"].as_str().unwrap();
        let id = e["measure"].as_str().unwrap();
        let c = &cases[case];
        let (x, y) = (mat(&c["x"]), mat(&c["y"]));
        let ours = measures::score(id, x.as_ref(), y.as_ref());
        match (e.get("value").and_then(Value::as_f64), ours) {
            (Some(want), Ok(got)) => {
                compared += 1;
                let tol = e["tol"].as_f64().unwrap();
                let err = (got - want).abs() / want.abs().max(1.0);
                let w = worst.entry(id.to_string()).or_insert(0.0);
                *w = w.max(err);
                if err > tol {
                    failures.push(format!(
                        "{case} {id}: ours {got:.15} ref {want:.15} (rel err {err:.2e} > {tol:.0e}; {})",
                        e["reference"].as_str().unwrap()
                    ));
                }
            }
            (Some(want), Err(err)) => {
                failures.push(format!("{case} {id}: ours Err({err}), ref {want}"))
            }
            (None, Ok(got)) => assert!(got.is_finite(), "{case} {id}: non-finite"),
            (None, Err(_)) => {}
        }
    }
    for (id, w) in &worst {
        println!("{id:60} max rel err {w:.2e}");
    }
    println!("{compared} comparisons");
    assert!(
        failures.is_empty(),
        "{} mismatches:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

/// diffscore's own RSA ids (aliases), from `tests/fixtures/measures/diffscore.json` (see
/// `make_diffscore_fixtures.py`): 3-D pairs, which diffscore flattens to `T·C` rows as we do.
#[test]
fn diffscore_rsa_aliases_match_diffscore() {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../tests/fixtures/measures/diffscore.json"
    );
    let data: Value =
        serde_json::from_str(&std::fs::read_to_string(path).expect("fixture")).expect("json");
    let flat = |v: &Value| -> Mat<f64> {
        let rows: Vec<Value> = v
            .as_array()
            .expect("time steps")
            .iter()
            .flat_map(|t| t.as_array().expect("conditions").clone())
            .collect();
        mat(&Value::Array(rows))
    };
    let mut compared = 0;
    for e in data["entries"].as_array().expect("entries") {
        if e["kind"] != "closed" {
            continue;
        }
        let case = &data["cases"][e["case"].as_str().unwrap()];
        let (x, y) = (flat(&case["x"]), flat(&case["y"]));
        let id = e["measure"].as_str().unwrap();
        let got = measures::score(id, x.as_ref(), y.as_ref()).unwrap();
        let want = e["value"].as_f64().unwrap();
        assert!(
            (got - want).abs() <= 1e-9 * want.abs().max(1.0),
            "{} {id}: ours {got} ref {want}",
            e["case"]
        );
        compared += 1;
    }
    assert_eq!(compared, 12);
}
