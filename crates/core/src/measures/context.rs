//! Lazily computed intermediate results shared by the measures of one `(X, Y)` pair.
//!
//! Each quantity is computed the first time a measure asks for it and then reused, so a
//! [`super::score_many`] call pays once for centring, for the feature-space products `XcᵀYc`,
//! `XcᵀXc`, `YcᵀYc` (CKA, CCA, NBS and Procrustes share them), for the singular values of `XcᵀYc`,
//! for the linear-kernel terms `‖XcᵀYc‖²`, `‖XcᵀXc‖²`, `‖YcᵀYc‖²`, for the Gram matrices and
//! RDMs, and for the canonical correlations.

use std::cell::{OnceCell, RefCell};
use std::collections::HashMap;

use faer::{Mat, MatRef};

use super::MeasureError;
use crate::linalg::{self, Triangle};

/// Linear-kernel terms of centred `X` and `Y`: `hxy = ‖XcᵀYc‖_F² = ⟨K_X, K_Y⟩`,
/// `hxx = ‖XcᵀXc‖_F² = ‖K_X‖²`, `hyy`.
#[derive(Debug, Clone)]
pub(crate) struct LinearTerms {
    pub hxy: f64,
    pub hxx: f64,
    pub hyy: f64,
}

/// Largest error bound, relative to the nuclear norm, accepted for taking the singular values of
/// the reduced cross product from its Gram's eigenvalues (see `linalg::singular_values_via_gram`):
/// well inside the 1e−9 to which the closed forms are compared with the references.
const NUCLEAR_REL_ERR: f64 = 1e-10;

/// How much larger a side's raw squared norm may be than its centred one (`‖X‖² ≤ 4‖Xc‖²`, i.e.
/// column means up to about √3 times the spread) for the feature-space products and norms to be
/// formed from the raw data plus a rank-one correction (`XᵀY − n μ_x μ_yᵀ`) instead of from a
/// centred copy. Rounding errors grow with that ratio (its square root in cross products), so
/// they stay within 4× (2×) of the centred route's; the copy costs a pass and the memory of each
/// input (36 ms and 40 MB per side at n = 5000, p = 1000, ~15% of angular Procrustes). Constant
/// or nearly constant inputs fail the test and are centred exactly.
const MAX_RAW_GROWTH: f64 = 4.0;

/// One side's column moments and whether its products may skip the centred copy.
struct Side {
    moments: linalg::ColumnMoments,
    raw: bool,
}

impl Side {
    fn of(x: MatRef<'_, f64>) -> Side {
        let moments = linalg::column_moments(x);
        let raw = moments.centred_norm2 > 0.0
            && moments.raw_norm2 <= MAX_RAW_GROWTH * moments.centred_norm2;
        Side { moments, raw }
    }

    /// `√n μ`, the factor of the correction `n μ μᵀ`.
    fn scaled_means(&self, n: usize) -> Vec<f64> {
        let r = (n as f64).sqrt();
        self.moments.means.iter().map(|m| r * m).collect()
    }
}

/// A centred side reduced to at most `n` columns with the same row Gram.
pub(crate) enum Reduced {
    /// A triangular factor `F` of the centred Gram on `1⊥` (`linalg::centred_gram_cholesky`),
    /// lower for X and upper for Y: the reduced rows are `H [0; F]`, and two factors give the
    /// cross product `L_xᵀ U_y`, itself upper triangular.
    Factor(Mat<f64>),
    /// The reduced rows themselves.
    Rows(Mat<f64>),
}

impl Reduced {
    /// The reduced rows (`n × r`).
    pub fn rows(&self) -> std::borrow::Cow<'_, Mat<f64>> {
        match self {
            Reduced::Factor(l) => std::borrow::Cow::Owned(linalg::embed_centred_factor(l.as_ref())),
            Reduced::Rows(r) => std::borrow::Cow::Borrowed(r),
        }
    }
}

/// The reduction of one centred side (see [`Ctx::xr`]) of shape `(n, p)`; `xc` gives the side
/// itself (needed only off the factor route) and `gram` its shared centred Gram.
fn reduce<'a>(
    (n, p): (usize, usize),
    triangle: Triangle,
    xc: impl FnOnce() -> MatRef<'a, f64>,
    gram: impl FnOnce() -> MatRef<'a, f64>,
) -> Reduced {
    if p > n
        && let Some(l) = linalg::centred_gram_cholesky(gram(), triangle)
    {
        return Reduced::Factor(l);
    }
    Reduced::Rows(linalg::row_space_reduce(xc()))
}

/// `Xc Xcᵀ` of one side from `data`, its centred copy or, when `side.raw`, the raw data: with
/// `v = Xμ`, `Xc Xcᵀ = XXᵀ − v1ᵀ − 1vᵀ + ‖μ‖² 11ᵀ`.
/// `gram` forms `data dataᵀ` (on the pool or on the calling thread).
fn row_gram(side: &Side, data: MatRef<'_, f64>, gram: fn(MatRef<'_, f64>) -> Mat<f64>) -> Mat<f64> {
    let mut k = gram(data);
    if !side.raw {
        return k;
    }
    let means = &side.moments.means;
    let v = linalg::mul(data, faer::ColRef::from_slice(means).as_mat());
    let mm: f64 = means.iter().map(|m| m * m).sum();
    let n = k.nrows();
    // `v_i + v_j` is computed in the same order for (i, j) and (j, i): K stays symmetric.
    for j in 0..n {
        for i in 0..n {
            k[(i, j)] -= v[(i, 0)] + v[(j, 0)] - mm;
        }
    }
    k
}

/// The upper-triangle RDM vectors of X and Y for one RDM kind.
pub(crate) type RdmPair = (std::rc::Rc<Vec<f64>>, std::rc::Rc<Vec<f64>>);

pub(crate) struct Ctx<'a> {
    pub x: MatRef<'a, f64>,
    pub y: MatRef<'a, f64>,
    /// `C` when the rows are a flattened `(T, C, N)` input (row `t·C + c`).
    pub conditions: Option<usize>,
    sx: OnceCell<Side>,
    sy: OnceCell<Side>,
    xc: OnceCell<Mat<f64>>,
    yc: OnceCell<Mat<f64>>,
    xr: OnceCell<Reduced>,
    yr: OnceCell<Reduced>,
    cxx: OnceCell<Mat<f64>>,
    cyy: OnceCell<Mat<f64>>,
    cxy: OnceCell<Mat<f64>>,
    cross_sv: OnceCell<Result<Vec<f64>, MeasureError>>,
    linear: OnceCell<LinearTerms>,
    row_norms: OnceCell<(Vec<f64>, Vec<f64>)>,
    kx: OnceCell<Mat<f64>>,
    ky: OnceCell<Mat<f64>>,
    cca: OnceCell<Result<Vec<f64>, MeasureError>>,
    /// Upper-triangle RDM vectors by RDM kind name.
    pub rdms: RefCell<HashMap<&'static str, RdmPair>>,
    /// Bures fidelity and the two traces of the RDMs' second moments, by RDM kind name.
    pub bures: RefCell<HashMap<&'static str, (f64, f64, f64)>>,
}

impl<'a> Ctx<'a> {
    pub fn new(x: MatRef<'a, f64>, y: MatRef<'a, f64>, conditions: Option<usize>) -> Self {
        Ctx {
            x,
            y,
            conditions,
            sx: OnceCell::new(),
            sy: OnceCell::new(),
            xc: OnceCell::new(),
            yc: OnceCell::new(),
            xr: OnceCell::new(),
            yr: OnceCell::new(),
            cxx: OnceCell::new(),
            cyy: OnceCell::new(),
            cxy: OnceCell::new(),
            cross_sv: OnceCell::new(),
            linear: OnceCell::new(),
            row_norms: OnceCell::new(),
            kx: OnceCell::new(),
            ky: OnceCell::new(),
            cca: OnceCell::new(),
            rdms: RefCell::new(HashMap::new()),
            bures: RefCell::new(HashMap::new()),
        }
    }

    /// The context of a pair that passes [`super::validate_pair`], whose finiteness check comes
    /// from the column moments most measures need anyway: a value that is not finite makes its
    /// side's sum of squares NaN or infinite, so only then (or on overflow) are the values
    /// scanned. The separate scan was 3-4% of NBS at size C.
    pub fn validated(
        x: MatRef<'a, f64>,
        y: MatRef<'a, f64>,
        conditions: Option<usize>,
    ) -> Result<Self, MeasureError> {
        super::validate_shapes(x, y)?;
        let ctx = Ctx::new(x, y, conditions);
        // two memory-bound passes, side by side (each also splits its columns when large)
        let (sx, sy) = rayon::join(|| Side::of(x), || Side::of(y));
        let _ = ctx.sx.set(sx);
        let _ = ctx.sy.set(sy);
        for (which, m, side) in [("X", x, ctx.sx()), ("Y", y, ctx.sy())] {
            if !side.moments.raw_norm2.is_finite() {
                super::check_finite(which, m)?;
            }
        }
        Ok(ctx)
    }

    pub fn n(&self) -> usize {
        self.x.nrows()
    }

    fn sx(&self) -> &Side {
        self.sx.get_or_init(|| Side::of(self.x))
    }

    fn sy(&self) -> &Side {
        self.sy.get_or_init(|| Side::of(self.y))
    }

    /// Column-centred X.
    pub fn xc(&self) -> MatRef<'_, f64> {
        self.xc
            .get_or_init(|| linalg::center_with(self.x, &self.sx().moments.means))
            .as_ref()
    }

    /// Column-centred Y.
    pub fn yc(&self) -> MatRef<'_, f64> {
        self.yc
            .get_or_init(|| linalg::center_with(self.y, &self.sy().moments.means))
            .as_ref()
    }

    /// `‖Xc‖_F²`.
    pub fn nx2(&self) -> f64 {
        match self.sx() {
            s if s.raw => s.moments.centred_norm2,
            _ => linalg::frob2(self.xc()),
        }
    }

    /// `‖Yc‖_F²`.
    pub fn ny2(&self) -> f64 {
        match self.sy() {
            s if s.raw => s.moments.centred_norm2,
            _ => linalg::frob2(self.yc()),
        }
    }

    /// X as the feature-space products take it: raw when [`MAX_RAW_GROWTH`] allows, else centred.
    fn x_for_products(&self) -> MatRef<'_, f64> {
        if self.sx().raw { self.x } else { self.xc() }
    }

    fn y_for_products(&self) -> MatRef<'_, f64> {
        if self.sy().raw { self.y } else { self.yc() }
    }

    /// `XcᵀXc` of one side from its centred copy or, when [`MAX_RAW_GROWTH`] allows, from the raw
    /// data: `XᵀX − n μμᵀ`.
    fn feature_gram<'s>(
        &'s self,
        side: &Side,
        raw: MatRef<'_, f64>,
        centred: impl FnOnce() -> MatRef<'s, f64>,
    ) -> Mat<f64> {
        if !side.raw {
            return linalg::gram_tn(centred());
        }
        let mut g = linalg::gram_tn(raw);
        let u = side.scaled_means(self.n());
        linalg::sub_outer(g.as_mut(), &u, &u);
        g
    }

    /// Whether the centred copies of X and Y have been made.
    #[cfg(test)]
    pub fn centred_copies(&self) -> (bool, bool) {
        (self.xc.get().is_some(), self.yc.get().is_some())
    }

    /// Row-space reduction of Xc (at most `min(n, p1)` columns, same row Gram): Xc itself when
    /// `p1 ≤ n`, otherwise the factor of the (shared) centred Gram restricted to `1⊥`, or the QR
    /// route when that Gram is nearly singular.
    pub fn xr(&self) -> &Reduced {
        self.xr
            .get_or_init(|| reduce(self.x.shape(), Triangle::Lower, || self.xc(), || self.kx()))
    }

    pub fn yr(&self) -> &Reduced {
        self.yr
            .get_or_init(|| reduce(self.y.shape(), Triangle::Upper, || self.yc(), || self.ky()))
    }

    /// When both sides are wider than `n`, factors their centred Grams side by side on the pool
    /// (the first step of [`Self::xr`] and [`Self::yr`]): each factorisation is sequential at these
    /// sizes, 0.27 ms at n = 200, a tenth of NBS at size C. A side whose Gram is nearly singular
    /// is left to its own reduction.
    fn factor_wide_sides(&self) {
        let n = self.n();
        if self.x.ncols() <= n
            || self.y.ncols() <= n
            || self.xr.get().is_some()
            || self.yr.get().is_some()
            || rayon::current_num_threads() < 2
        {
            return;
        }
        self.row_grams();
        let (kx, ky) = (self.kx(), self.ky());
        let (lx, ly) = rayon::join(
            || linalg::centred_gram_cholesky(kx, Triangle::Lower),
            || linalg::centred_gram_cholesky(ky, Triangle::Upper),
        );
        for (cell, factor) in [(&self.xr, lx), (&self.yr, ly)] {
            if let Some(l) = factor {
                let _ = cell.set(Reduced::Factor(l));
            }
        }
    }

    /// Feature-space Gram `XcᵀXc`.
    pub fn cxx(&self) -> MatRef<'_, f64> {
        self.cxx
            .get_or_init(|| self.feature_gram(self.sx(), self.x, || self.xc()))
            .as_ref()
    }

    /// Feature-space Gram `YcᵀYc`.
    pub fn cyy(&self) -> MatRef<'_, f64> {
        self.cyy
            .get_or_init(|| self.feature_gram(self.sy(), self.y, || self.yc()))
            .as_ref()
    }

    /// Cross-covariance `XcᵀYc` (unnormalised). A centred side makes the other side's centring
    /// redundant (`XᵀYc = XcᵀYc`), so only two raw sides need the correction.
    pub fn cxy(&self) -> MatRef<'_, f64> {
        self.cxy
            .get_or_init(|| {
                let mut m = linalg::mul_tn(self.x_for_products(), self.y_for_products());
                let (sx, sy) = (self.sx(), self.sy());
                if sx.raw && sy.raw {
                    let n = self.n();
                    linalg::sub_outer(m.as_mut(), &sx.scaled_means(n), &sy.scaled_means(n));
                }
                m
            })
            .as_ref()
    }

    /// Singular values of `XcᵀYc`, from the (at most `min(n,p1) × min(n,p2)`) reduced product.
    ///
    /// When a side is wider than `n`, its row-space factor spans `1⊥` in full, so the reduced
    /// product is no worse conditioned than the factors themselves: its singular values then come
    /// from the eigenvalues of its Gram whenever their error bound allows (twice as fast as the
    /// SVD: 1.7 against 3.3 ms at 199², n = 200, p = 2000). The square `p × p` product of two
    /// `p ≤ n` sides typically has singular values down to 1e−8 of the largest (independent
    /// noise), where that bound fails, so trying the eigenvalues first would only add their cost.
    pub fn cross_sv(&self, measure: &str) -> Result<&[f64], MeasureError> {
        self.cross_sv
            .get_or_init(|| {
                let n = self.n();
                let sv = if self.x.ncols() <= n && self.y.ncols() <= n {
                    linalg::singular_values(self.cxy())
                } else {
                    match self.reduced_cross() {
                        (r, true) => linalg::upper_triangular_singular_values_via_gram(
                            r.as_ref(),
                            NUCLEAR_REL_ERR,
                        ),
                        (a, false) => linalg::singular_values_via_gram(a.as_ref(), NUCLEAR_REL_ERR),
                    }
                };
                sv.map_err(|e| MeasureError::Numerical {
                    measure: measure.to_string(),
                    message: e.to_string(),
                })
            })
            .as_ref()
            .map(|v| v.as_slice())
            .map_err(Clone::clone)
    }

    /// `x̃ᵀỹ` from the row-space reductions: at most `min(n,p1) × min(n,p2)`, with the nonzero
    /// singular values of `XcᵀYc`; and whether it is upper triangular (both sides factors).
    pub fn reduced_cross(&self) -> (Mat<f64>, bool) {
        self.factor_wide_sides();
        match (self.xr(), self.yr()) {
            (Reduced::Factor(lx), Reduced::Factor(uy)) => {
                (linalg::factors_tn(lx.as_ref(), uy.as_ref()), true)
            }
            (a, b) => (
                linalg::mul_tn(a.rows().as_ref().as_ref(), b.rows().as_ref().as_ref()),
                false,
            ),
        }
    }

    /// `‖XcᵀYc‖_*`.
    pub fn nuclear(&self, measure: &str) -> Result<f64, MeasureError> {
        Ok(self.cross_sv(measure)?.iter().sum())
    }

    /// Centred linear Gram `K_X = Xc Xcᵀ`.
    pub fn kx(&self) -> MatRef<'_, f64> {
        self.kx
            .get_or_init(|| row_gram(self.sx(), self.gram_input_x(), linalg::gram_nt))
            .as_ref()
    }

    pub fn ky(&self) -> MatRef<'_, f64> {
        self.ky
            .get_or_init(|| row_gram(self.sy(), self.gram_input_y(), linalg::gram_nt))
            .as_ref()
    }

    /// What X's Gram is formed from: the raw data when [`MAX_RAW_GROWTH`] allows, else the
    /// centred copy.
    fn gram_input_x(&self) -> MatRef<'_, f64> {
        if self.sx().raw { self.x } else { self.xc() }
    }

    fn gram_input_y(&self) -> MatRef<'_, f64> {
        if self.sy().raw { self.y } else { self.yc() }
    }

    /// Both Grams side by side, one per thread, when neither is there yet: a thin Gram split
    /// over the pool ends in a reduction and a second wake-up of the pool (both Grams at size C:
    /// 1.97-2.20 against 1.83-1.95 ms, probe).
    pub(crate) fn row_grams(&self) {
        if self.kx.get().is_some() || self.ky.get().is_some() || rayon::current_num_threads() < 2 {
            return;
        }
        let (sx, sy) = (self.sx(), self.sy());
        let (dx, dy) = (self.gram_input_x(), self.gram_input_y());
        let (kx, ky) = rayon::join(
            || row_gram(sx, dx, linalg::gram_nt_sequential),
            || row_gram(sy, dy, linalg::gram_nt_sequential),
        );
        let _ = self.kx.set(kx);
        let _ = self.ky.set(ky);
    }

    /// The linear-kernel terms, from whichever of the feature space (`p × p`) or the Gram space
    /// (`n × n`) is cheaper.
    pub fn linear(&self) -> &LinearTerms {
        self.linear.get_or_init(|| {
            let (n, p1, p2) = (
                self.n() as f64,
                self.x.ncols() as f64,
                self.y.ncols() as f64,
            );
            let feature_cost = n * (2.0 * p1 * p2 + p1 * p1 + p2 * p2);
            let gram_cost = n * n * (p1 + p2) + 3.0 * n * n;
            let (hxy, hxx, hyy) =
                if self.kx.get().is_some() && self.ky.get().is_some() || gram_cost < feature_cost {
                    self.row_grams();
                    let (kx, ky) = (self.kx(), self.ky());
                    (
                        linalg::frob_dot(kx, ky),
                        linalg::frob2(kx),
                        linalg::frob2(ky),
                    )
                } else {
                    (
                        linalg::frob2(self.cxy()),
                        linalg::frob2(self.cxx()),
                        linalg::frob2(self.cyy()),
                    )
                };
            LinearTerms { hxy, hxx, hyy }
        })
    }

    /// Squared row norms of `Xc` and `Yc` (the Gram diagonals `(K_X)_ii`, `(K_Y)_ii`), which the
    /// unbiased HSIC estimators need.
    pub fn row_norms2(&self) -> (&[f64], &[f64]) {
        let (rx, ry) = self.row_norms.get_or_init(|| {
            let norms = |m: MatRef<'_, f64>| -> Vec<f64> {
                let mut r = vec![0.0; m.nrows()];
                for j in 0..m.ncols() {
                    let c = m.col(j).try_as_col_major().expect("owned, contiguous");
                    for (ri, v) in r.iter_mut().zip(c.as_slice()) {
                        *ri += v * v;
                    }
                }
                r
            };
            (norms(self.xc()), norms(self.yc()))
        });
        (rx, ry)
    }

    /// Canonical correlations of X and Y (see `cca.rs`), cached.
    pub fn canonical_correlations(&self, measure: &str) -> Result<&[f64], MeasureError> {
        self.cca
            .get_or_init(|| super::cca::canonical_correlations(self, measure))
            .as_ref()
            .map(|v| v.as_slice())
            .map_err(Clone::clone)
    }
}
