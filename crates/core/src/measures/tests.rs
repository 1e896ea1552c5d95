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

#[test]
fn non_finite_entries_are_located_on_any_layout() {
    let y = faer::Mat::<f64>::from_fn(6, 3, |i, j| (i + j) as f64);
    for bad in [f64::NAN, f64::INFINITY, f64::NEG_INFINITY] {
        let mut x = faer::Mat::<f64>::from_fn(6, 4, |i, j| (i * j) as f64);
        x[(4, 2)] = bad;
        let xt = x.transpose().to_owned();
        for view in [x.as_ref(), xt.transpose()] {
            match validate_pair(view, y.as_ref()) {
                Err(MeasureError::NonFinite {
                    which, row, col, ..
                }) => {
                    assert_eq!((which.as_str(), row, col), ("X", 4, 2))
                }
                other => panic!("{bad}: {other:?}"),
            }
            assert!(matches!(
                validate_pair(y.as_ref(), view),
                Err(MeasureError::NonFinite { .. })
            ));
        }
    }
    let x = faer::Mat::<f64>::from_fn(6, 4, |i, j| (i * j) as f64);
    assert!(validate_pair(x.as_ref(), y.as_ref()).is_ok());
}

#[test]
fn cca_gram_route_agrees_with_orthonormal_bases_and_is_left_when_ill_conditioned() {
    let mut next = crate::test_data::stream(7);
    let x = faer::Mat::<f64>::from_fn(60, 7, |_, _| next());
    let mut y = faer::Mat::<f64>::from_fn(60, 9, |_, _| next());
    for i in 0..60 {
        y[(i, 0)] += 2.0 * x[(i, 0)];
    }
    // a near-copy column: κ(YᵀY) ~ 1e14, where the Gram route would lose half the digits
    let mut y_ill = y.clone();
    for i in 0..60 {
        y_ill[(i, 8)] = y[(i, 7)] + 1e-7 * next();
    }
    for y in [&y, &y_ill] {
        let ctx = context::Ctx::new(x.as_ref(), y.as_ref(), None);
        let got = ctx.canonical_correlations("cca").unwrap().to_vec();
        let want = cca::correlations_via_bases(ctx.xc(), ctx.yc(), "cca").unwrap();
        assert_eq!(got.len(), want.len());
        for (g, w) in got.iter().zip(&want) {
            assert!((g - w).abs() < 1e-13, "{g} vs {w}");
        }
    }
}

#[test]
fn wide_sides_take_the_gram_route_and_match_the_full_svd() {
    let mut next = crate::test_data::stream(11);
    let z = faer::Mat::<f64>::from_fn(60, 5, |_, _| next() - 0.5);
    let side = |p: usize, next: &mut dyn FnMut() -> f64| {
        let a = faer::Mat::<f64>::from_fn(5, p, |_, _| next() - 0.5);
        let noise = faer::Mat::<f64>::from_fn(60, p, |_, _| 0.3 * (next() - 0.5));
        &(&z * &a) + &noise
    };
    let x = side(150, &mut next);
    // both sides wider than n, and one side narrower (x̃ᵀYc)
    for y in [side(130, &mut next), side(20, &mut next)] {
        let ctx = context::Ctx::new(x.as_ref(), y.as_ref(), None);
        let got: f64 = ctx.cross_sv("nbs").unwrap().iter().sum();
        let full = crate::linalg::mul_tn(ctx.xc(), ctx.yc());
        let want: f64 = crate::linalg::singular_values(full.as_ref())
            .unwrap()
            .iter()
            .sum();
        assert!((got - want).abs() < 1e-12 * want, "{got} vs {want}");
        let reduced = ctx.reduced_cross();
        if y.ncols() > 60 {
            assert!(
                crate::linalg::singular_values_from_gram(reduced.as_ref(), 1e-10)
                    .unwrap()
                    .is_some(),
                "the reduced product should pass the Gram route's bound"
            );
        }
    }
}
