//! Unit tests of the catalogue plumbing.

use super::*;
use crate::progress::NoProgress;

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

/// The measures take their finiteness check from the column moments (`Ctx::validated`): the
/// same located error as `validate_pair` for one measure and for a batch, in either side and on
/// the pool's column split, and finite values whose squares overflow still pass.
#[test]
fn measures_refuse_non_finite_entries_and_accept_huge_finite_ones() {
    let located = |r: Result<f64, MeasureError>| match r {
        Err(MeasureError::NonFinite {
            which, row, col, ..
        }) => (which, row, col),
        other => panic!("{other:?}"),
    };
    let ids = ["nbs".to_string(), "cka".to_string()];
    // 600 × 500 is large enough for the moments to split the columns over the pool
    for (n, p) in [(6, 4), (600, 500)] {
        let y = faer::Mat::<f64>::from_fn(n, p, |i, j| ((i * 7 + j * 3) % 11) as f64);
        for bad in [f64::NAN, f64::INFINITY, f64::NEG_INFINITY] {
            let mut x = faer::Mat::<f64>::from_fn(n, p, |i, j| ((i + 2 * j) % 5) as f64);
            x[(n - 2, p / 2)] = bad;
            let want = ("X".to_string(), n - 2, p / 2);
            assert_eq!(located(score("nbs", x.as_ref(), y.as_ref())), want);
            let many = score_many(&ids, x.as_ref(), y.as_ref(), &NoProgress).unwrap();
            assert!(many.into_iter().all(|r| located(r) == want));
            let want = ("Y".to_string(), n - 2, p / 2);
            assert_eq!(located(score("cka", y.as_ref(), x.as_ref())), want);
        }
    }
    // sums of squares overflow to infinity, yet every value is finite
    let x = faer::Mat::<f64>::from_fn(8, 3, |i, j| 1e200 * ((i + j) % 4) as f64 - 1e200);
    let y = faer::Mat::<f64>::from_fn(8, 3, |i, j| ((i * j) % 3) as f64);
    assert!(!matches!(
        score("cka", x.as_ref(), y.as_ref()),
        Err(MeasureError::NonFinite { .. })
    ));
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
    let side = |p: usize, noise: f64, next: &mut dyn FnMut() -> f64| {
        let a = faer::Mat::<f64>::from_fn(5, p, |_, _| next() - 0.5);
        let e = faer::Mat::<f64>::from_fn(60, p, |_, _| noise * (next() - 0.5));
        &(&z * &a) + &e
    };
    let x = side(150, 0.3, &mut next);
    // both sides wider than n; a wide side of rank 5, whose centred Gram has no Cholesky factor
    // (the QR route); and one side narrower than n (x̃ᵀYc)
    let ys = [
        side(130, 0.3, &mut next),
        side(130, 0.0, &mut next),
        side(20, 0.3, &mut next),
    ];
    // two threads, so that two wide sides are factored side by side
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(2)
        .build()
        .unwrap();
    for (k, y) in ys.iter().enumerate() {
        pool.install(|| {
            let ctx = context::Ctx::new(x.as_ref(), y.as_ref(), None);
            let (got, want) = nuclear_by_route_and_by_svd(&ctx);
            assert!((got - want).abs() < 1e-12 * want, "{k}: {got} vs {want}");
            assert!(matches!(ctx.xr(), context::Reduced::Factor(_)));
            let y_factored = matches!(ctx.yr(), context::Reduced::Factor(_));
            assert_eq!(y_factored, k == 0, "case {k}");
            if k == 0 {
                let (reduced, upper) = ctx.reduced_cross();
                assert!(upper, "two factors give an upper triangular product");
                assert!(
                    crate::linalg::singular_values_from_gram(reduced.as_ref(), 1e-10)
                        .unwrap()
                        .is_some(),
                    "the reduced product should pass the Gram route's bound"
                );
            }
            // Y's factor is upper triangular: its reduced rows meet X's rows when X is not
            // factored (the swapped narrow and rank-5 sides)
            let swapped = context::Ctx::new(y.as_ref(), x.as_ref(), None);
            let got: f64 = swapped.cross_sv("nbs").unwrap().iter().sum();
            assert!(
                (got - want).abs() < 1e-12 * want,
                "{k} swapped: {got} vs {want}"
            );
        });
    }
    // one thread: each side is reduced on its own (no joined factorisation), same triangles
    let single = rayon::ThreadPoolBuilder::new()
        .num_threads(1)
        .build()
        .unwrap();
    single.install(|| {
        let ctx = context::Ctx::new(x.as_ref(), ys[0].as_ref(), None);
        let (got, want) = nuclear_by_route_and_by_svd(&ctx);
        assert!(
            (got - want).abs() < 1e-12 * want,
            "one thread: {got} vs {want}"
        );
        assert!(ctx.reduced_cross().1);
    });
}

/// `‖XcᵀYc‖_*` by the context's route, and by the SVD of the full product.
fn nuclear_by_route_and_by_svd(ctx: &context::Ctx<'_>) -> (f64, f64) {
    let got = ctx.cross_sv("nbs").unwrap().iter().sum();
    let full = crate::linalg::mul_tn(ctx.xc(), ctx.yc());
    let want = crate::linalg::singular_values(full.as_ref())
        .unwrap()
        .iter()
        .sum();
    (got, want)
}

#[test]
fn raw_products_match_the_centred_copy_and_are_left_for_large_means() {
    let mut next = crate::test_data::stream(13);
    // wide (p > n: row Grams) and tall (feature-space products) pairs
    for (n, p1, p2) in [(40, 7, 5), (12, 30, 25)] {
        let base_x = faer::Mat::<f64>::from_fn(n, p1, |_, _| next() - 0.5);
        let base_y = faer::Mat::<f64>::from_fn(n, p2, |_, _| next() - 0.5);
        // column means of 0.2 to 0.4 against a spread of 0.29 (‖X‖² ≈ 2‖Xc‖²) may take the raw
        // route; means of 1e6 may not
        for (offset, raw) in [(0.0, true), (0.2, true), (1e6, false)] {
            let shift = |m: &faer::Mat<f64>| {
                faer::Mat::<f64>::from_fn(m.nrows(), m.ncols(), |i, j| {
                    m[(i, j)] + offset * (1.0 + j as f64 / m.ncols() as f64)
                })
            };
            let (x, y) = (shift(&base_x), shift(&base_y));
            let ctx = context::Ctx::new(x.as_ref(), y.as_ref(), None);
            let got = [
                ctx.cxy().to_owned(),
                ctx.cxx().to_owned(),
                ctx.cyy().to_owned(),
                ctx.kx().to_owned(),
                ctx.ky().to_owned(),
            ];
            let norms = (ctx.nx2(), ctx.ny2());
            assert_eq!(ctx.centred_copies(), (!raw, !raw), "offset {offset}");
            let (xc, yc) = (
                crate::linalg::center(x.as_ref()),
                crate::linalg::center(y.as_ref()),
            );
            let want = [
                crate::linalg::mul_tn(xc.as_ref(), yc.as_ref()),
                crate::linalg::gram_tn(xc.as_ref()),
                crate::linalg::gram_tn(yc.as_ref()),
                crate::linalg::gram_nt(xc.as_ref()),
                crate::linalg::gram_nt(yc.as_ref()),
            ];
            let (nx2, ny2) = (
                crate::linalg::frob2(xc.as_ref()),
                crate::linalg::frob2(yc.as_ref()),
            );
            let scale = [nx2 * ny2, nx2 * nx2, ny2 * ny2, nx2 * nx2, ny2 * ny2];
            for (k, (g, w)) in got.iter().zip(&want).enumerate() {
                let err = crate::linalg::frob2((g - w).as_ref()) / scale[k];
                // the centred route's own means differ from `center`'s at 1e−16 of 1e6
                let tol = if raw { 1e-28 } else { 1e-16 };
                assert!(
                    err < tol,
                    "product {k}, offset {offset}: relative error² {err:e}"
                );
            }
            let tol = if raw { 1e-14 } else { 1e-8 };
            assert!((norms.0 - nx2).abs() < tol * nx2 && (norms.1 - ny2).abs() < tol * ny2);
            // both Grams side by side, one per thread, on either route
            let pool = rayon::ThreadPoolBuilder::new()
                .num_threads(2)
                .build()
                .unwrap();
            pool.install(|| {
                let ctx = context::Ctx::new(x.as_ref(), y.as_ref(), None);
                ctx.row_grams();
                for (k, g) in [(3, ctx.kx()), (4, ctx.ky())] {
                    let err = crate::linalg::frob2((g - &want[k]).as_ref()) / scale[k];
                    let tol = if raw { 1e-28 } else { 1e-16 };
                    assert!(err < tol, "joined Gram {k}, offset {offset}: {err:e}");
                }
            });
        }
    }
}
