//! Unit tests of the catalogue plumbing.

use super::*;

#[test]
fn catalogue_ids_roundtrip() {
    for m in catalogue() {
        let f = find(&m.id).unwrap_or_else(|e| panic!("{}: {e}", m.id));
        assert_eq!(f.id(), m.id);
        for a in &m.aliases {
            assert_eq!(find(a).unwrap().id(), m.id, "alias {a}");
        }
    }
}

#[test]
fn unknown_id_suggests() {
    let e = find("cka-kernel=linear-hsic=gretton-scor").unwrap_err();
    match e {
        MeasureError::UnknownMeasure { suggestions, .. } => {
            assert_eq!(suggestions[0], "cka-kernel=linear-hsic=gretton-score")
        }
        e => panic!("{e:?}"),
    }
}

#[test]
fn parametrised_ids_parse() {
    for id in [
        "shape_metric-alpha=0.5-distance=angular",
        "ridge-lambda37-r2#5folds_cv",
        "svcca-dim=7-score",
        "cka-kernel=(rbf-sigma=0.5)-hsic=gretton-score",
        "measure/netrep/procrustes-distance=angular",
        "measure/rsatoolbox/rsa-rdm=squared_euclidean-compare=corr",
    ] {
        find(id).unwrap_or_else(|e| panic!("{id}: {e}"));
    }
    assert!(matches!(
        find("shape_metric-alpha=2-distance=angular"),
        Err(MeasureError::InvalidParameter { .. })
    ));
}
