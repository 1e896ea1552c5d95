//! Differentiable measures: the catalogue entries that can be optimised, as candle graphs.
//!
//! Every measure is written in feature space (`O(n p²)` products of the `n × p` operands) except
//! where the `n × n` Gram is cheaper (`p > n`). Decompositions of the small cross-products go
//! through the host ([`super::host`]) and come back as exact linear surrogates, so values equal the
//! f64 measure engine ([`crate::measures::score`]) and gradients are exact, on any candle device:
//!
//! | family | value | device products |
//! |---|---|---|
//! | CKA (gretton) | `‖XcᵀYc‖² / (‖XcᵀXc‖ ‖YcᵀYc‖)` | `XcᵀYc`, `YcᵀYc` |
//! | CKA (song) | `d(X,Y)/sqrt(d(X,X) d(Y,Y))`, `d = ‖XᵀY‖² − n/(n−2)⟨r_X,r_Y⟩ + ‖X‖²‖Y‖²/((n−1)(n−2))` | same, plus row norms |
//! | CKA (lange) | `(‖XᵀY‖² − ⟨r_X,r_Y⟩) / sqrt((‖XᵀX‖² − ‖r_X‖²)(‖YᵀY‖² − ‖r_Y‖²))` | same |
//! | NBS / Procrustes | `‖XcᵀYc‖_* / (‖Xc‖ ‖Yc‖)`; Euclidean `sqrt(‖Xc‖² + ‖Yc‖² − 2‖XcᵀYc‖_*)` | `XcᵀYc`; SVD on the host, gradient `U Vᵀ` |
//! | CCA | `Σρ / min(p1,p2)`, `ρ = σ(Q_Xᵀ Yc (YcᵀYc)^{−1/2})` | `Q_XᵀYc`, `YcᵀYc`; eigen + SVD on the host |
//! | RSA correlation RDM | Pearson (or cosine) of the upper triangles of `1 − ZZᵀ`, from `‖ZxᵀZy‖²`, `‖ZᵀZ‖²`, `‖1ᵀZ‖²` | `ZxᵀZy`, `ZyᵀZy` |
//! | linreg / ridge R² | per fold `1 − ‖T_te − P_te W‖²/‖T_te‖²`, `W = (P̃ᵀP̃ + λI)^{−1}P̃ᵀT̃` | per-block `P_kᵀP_k`, `P_kᵀT_k`; solves on the host ([`super::linreg`]) |
//!
//! The output transforms (`score`, `squared_score`, `distance=angular`, `angular_score`,
//! `distance=one_minus_score`) are applied to the scalar on the host, with the registry's guard
//! (`|s − 1| < 1e−10 ⇒ arccos = 0`); at `s ≥ 1` (and within the guard) the arccos gradient is NaN, as in the reference,
//! which the optimisation loop handles as diffscore does.

use std::f64::consts::FRAC_PI_2;

use candle_core::{DType, Device, Result, Tensor};

use super::host::{self, FoldScore};
use super::operand::{Operand, cross_norm2};
use super::tensor::{self, Grad, scalar, surrogate, to_mat};
use crate::measures::{self, MeasureError, MeasureInfo};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Out {
    Score,
    Squared,
    Angular,
    AngularScore,
    OneMinus,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Hsic {
    Gretton,
    Song,
    Lange,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum RsaCompare {
    Pearson,
    Cosine,
}

#[derive(Debug, Clone, PartialEq)]
enum Kind {
    Cka {
        hsic: Hsic,
        out: Out,
    },
    /// NBS and the angular Procrustes family (`procrustes-score` = NBS).
    Nbs {
        out: Out,
    },
    /// Euclidean Procrustes (= Bures) distance, or its square.
    Euclidean {
        squared: bool,
    },
    Cca {
        out: Out,
    },
    Rsa {
        cmp: RsaCompare,
    },
    LinReg {
        lambda: f64,
        folds: Option<usize>,
        score: FoldScore,
        sym: bool,
    },
}

/// A measure that can be differentiated with respect to either argument.
#[derive(Debug, Clone)]
pub struct DiffMeasure {
    id: String,
    kind: Kind,
    reverse: bool,
    info: MeasureInfo,
}

fn out_of(s: &str) -> Option<Out> {
    Some(match s {
        "score" => Out::Score,
        "squared_score" => Out::Squared,
        "distance=angular" => Out::Angular,
        "angular_score" => Out::AngularScore,
        "distance=one_minus_score" => Out::OneMinus,
        _ => return None,
    })
}

fn parse_kind(canonical: &str) -> Option<Kind> {
    if let Some(rest) = canonical.strip_prefix("cka-kernel=linear-hsic=") {
        let (h, out) = rest.split_once('-')?;
        let hsic = match h {
            "gretton" => Hsic::Gretton,
            "song" => Hsic::Song,
            "lange" => Hsic::Lange,
            _ => return None,
        };
        return Some(Kind::Cka {
            hsic,
            out: out_of(out)?,
        });
    }
    if let Some(out) = canonical.strip_prefix("nbs-") {
        return Some(Kind::Nbs { out: out_of(out)? });
    }
    if let Some(out) = canonical.strip_prefix("procrustes-") {
        return match out {
            "distance=euclidean" => Some(Kind::Euclidean { squared: false }),
            "distance=squared_euclidean" => Some(Kind::Euclidean { squared: true }),
            o => Some(Kind::Nbs { out: out_of(o)? }),
        };
    }
    if canonical == "bures_distance" {
        return Some(Kind::Euclidean { squared: false });
    }
    if let Some(rest) = canonical.strip_prefix("shape_metric-alpha=") {
        let (a, out) = rest.split_once('-')?;
        let a: f64 = a.parse().ok()?;
        if a <= 1.0 - 1e-7 {
            return None;
        }
        return match out {
            "distance=angular" => Some(Kind::Nbs { out: Out::Angular }),
            "distance=euclidean" => Some(Kind::Euclidean { squared: false }),
            _ => None,
        };
    }
    if let Some(out) = canonical.strip_prefix("cca-") {
        return Some(Kind::Cca { out: out_of(out)? });
    }
    match canonical {
        "rsa-rdm=correlation-compare=pearson" => {
            return Some(Kind::Rsa {
                cmp: RsaCompare::Pearson,
            });
        }
        "rsa-rdm=correlation-compare=cosine" => {
            return Some(Kind::Rsa {
                cmp: RsaCompare::Cosine,
            });
        }
        _ => {}
    }
    // {linreg|ridge-lambda{λ}}-{r2|pearsonr}[-sym]#{no_cv|{k}folds_cv}
    let (head, cv) = canonical.split_once('#')?;
    let folds = if cv == "no_cv" {
        None
    } else {
        Some(cv.strip_suffix("folds_cv")?.parse().ok()?)
    };
    let (head, sym) = match head.strip_suffix("-sym") {
        Some(h) => (h, true),
        None => (head, false),
    };
    let (name, agg) = head.rsplit_once('-')?;
    let score = match agg {
        "r2" => FoldScore::R2,
        "pearsonr" => FoldScore::PearsonR,
        _ => return None,
    };
    let lambda = if name == "linreg" {
        0.0
    } else {
        name.strip_prefix("ridge-lambda")?.parse().ok()?
    };
    Some(Kind::LinReg {
        lambda,
        folds,
        score,
        sym,
    })
}

/// Why an id cannot be optimised.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum DiffMeasureError {
    #[error(transparent)]
    Measure(#[from] MeasureError),
    #[error(
        "`{id}` has no differentiable implementation; differentiable measures: {}",
        supported.join(", ")
    )]
    NotDifferentiable { id: String, supported: Vec<String> },
}

/// Representative ids of every differentiable family (any output transform of these works too).
pub fn differentiable_measures() -> Vec<String> {
    [
        "cka",
        "cka-angular-score",
        "cka-hsic_song",
        "cka-kernel=linear-hsic=lange-score",
        "nbs",
        "nbs-angular-score",
        "procrustes-angular-score",
        "procrustes-distance=angular",
        "procrustes-distance=euclidean",
        "cca-angular-score",
        "cca-score",
        "rsa-rdm=correlation-compare=pearson",
        "linreg-r2#no_cv",
        "linreg-r2#5folds_cv",
        "ridge-lambda{λ}-r2#no_cv",
        "ridge-lambda{λ}-r2#5folds_cv",
        "ridge-lambda{λ}-r2-sym#5folds_cv",
        "ridge-lambda{λ}-r2#5folds_cv-reverse",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect()
}

impl DiffMeasure {
    /// Resolves an id or alias of the measure catalogue. A trailing `-reverse` swaps the
    /// arguments (`f(Y, X)`; e.g. `ridge-lambda100-r2#5folds_cv-reverse` predicts Y from X).
    pub fn new(id: &str) -> std::result::Result<Self, DiffMeasureError> {
        let not_diff = |id: &str| DiffMeasureError::NotDifferentiable {
            id: id.to_string(),
            supported: differentiable_measures(),
        };
        let (m, reverse) = match measures::find(id) {
            Ok(m) => (m, false),
            Err(e) => match id.strip_suffix("-reverse") {
                Some(base) => (measures::find(base).map_err(|_| e)?, true),
                None => return Err(e.into()),
            },
        };
        let kind = parse_kind(m.id()).ok_or_else(|| not_diff(id))?;
        let id = if reverse {
            format!("{}-reverse", m.id())
        } else {
            m.id().to_string()
        };
        Ok(DiffMeasure {
            id,
            kind,
            reverse,
            info: m.info().clone(),
        })
    }

    /// Canonical id (with `-reverse` when the arguments are swapped).
    pub fn id(&self) -> &str {
        &self.id
    }

    /// The catalogue entry of the underlying (unswapped) measure.
    pub fn info(&self) -> &MeasureInfo {
        &self.info
    }

    pub fn higher_is_more_similar(&self) -> bool {
        self.info.higher_is_more_similar
    }

    /// The arguments are swapped (`f(Y, X)`).
    pub fn is_reversed(&self) -> bool {
        self.reverse
    }

    /// Shape validation (the measure engine's rules).
    pub fn check_shapes(
        &self,
        n: usize,
        p_x: usize,
        p_y: usize,
    ) -> std::result::Result<(), MeasureError> {
        let id = self.info.id.as_str();
        if self.reverse {
            measures::check_shapes(id, n, p_y, p_x)
        } else {
            measures::check_shapes(id, n, p_x, p_y)
        }
    }

    /// The measure on two tensors (2-D, or 3-D flattened to `(T·C, N)`); differentiable with
    /// respect to whichever of them tracks gradients. Returns the f64 value and the scalar graph.
    pub fn eval(&self, x: &Tensor, y: &Tensor) -> Result<(f64, Tensor)> {
        let ox = if x.track_op() {
            Operand::variable(x)?
        } else {
            Operand::constant(x)?
        };
        let oy = if y.track_op() {
            Operand::variable(y)?
        } else {
            Operand::constant(y)?
        };
        self.eval_operands(&ox, &oy)
    }

    /// The measure on prepared operands (reuse a constant [`Operand`] across iterations).
    pub fn eval_operands(&self, x: &Operand, y: &Operand) -> Result<(f64, Tensor)> {
        let (a, b) = if self.reverse { (y, x) } else { (x, y) };
        if a.rows() != b.rows() {
            return Err(candle_core::Error::Msg(format!(
                "X and Y must have the same number of rows; got {} and {}",
                a.rows(),
                b.rows()
            )));
        }
        match &self.kind {
            Kind::Cka { hsic, out } => {
                let s = cka(a, b, *hsic)?;
                apply_out(s, *out)
            }
            Kind::Nbs { out } => apply_out(nbs(a, b)?, *out),
            Kind::Euclidean { squared } => euclidean(a, b, *squared),
            Kind::Cca { out } => {
                if *out == Out::Squared {
                    let t = cca(a, b, true)?;
                    Ok((scalar(&t)?, t))
                } else {
                    apply_out(cca(a, b, false)?, *out)
                }
            }
            Kind::Rsa { cmp } => {
                let t = rsa(a, b, *cmp)?;
                Ok((scalar(&t)?, t))
            }
            Kind::LinReg {
                lambda,
                folds,
                score,
                sym,
            } => {
                let f = super::linreg::linreg(a, b, *lambda, *folds, *score)?;
                let t = if *sym {
                    let g = super::linreg::linreg(b, a, *lambda, *folds, *score)?;
                    ((f + g)? * 0.5)?
                } else {
                    f
                };
                Ok((scalar(&t)?, t))
            }
        }
    }
}

fn dev(a: &Operand) -> (DType, Device) {
    (a.dtype(), a.device().clone())
}

/// The output transform on the host: exact value (with the registry's arccos guard) and the
/// chain-rule factor; NaN factor where arccos has an infinite slope.
fn apply_out(s: Tensor, out: Out) -> Result<(f64, Tensor)> {
    let v = scalar(&s)?;
    let guarded_acos = |v: f64| {
        if (v - 1.0).abs() < 1e-10 {
            0.0
        } else {
            v.clamp(-1.0, 1.0).acos()
        }
    };
    // Where the guard puts the value on the boundary, the slope is the boundary's (infinite):
    // within 1e−10 of 1 it would only follow the rounding of `s` (CKA(X, X) comes out as
    // 1 ± a few ulps depending on summation order).
    let dacos = |v: f64| {
        let d = 1.0 - v * v;
        if d > 0.0 && (v - 1.0).abs() >= 1e-10 {
            -1.0 / d.sqrt()
        } else {
            f64::NAN
        }
    };
    let (value, slope) = match out {
        Out::Score => return Ok((v, s)),
        Out::Squared => (v * v, 2.0 * v),
        Out::OneMinus => (1.0 - v, -1.0),
        Out::Angular => (guarded_acos(v), dacos(v)),
        Out::AngularScore => (1.0 - guarded_acos(v) / FRAC_PI_2, -dacos(v) / FRAC_PI_2),
    };
    let (dtype, device) = (s.dtype(), s.device().clone());
    if slope.is_finite() {
        let t = surrogate(value, vec![Grad::Scalar(s, slope)], dtype, &device)?;
        Ok((value, t))
    } else {
        // value stays exact; the gradient becomes NaN (handled by the optimisation loop)
        let nan = tensor::constant(f64::NAN, dtype, &device)?;
        let t = (tensor::constant(value, dtype, &device)? + (&s * nan)?)?;
        Ok((value, t))
    }
}

fn cka(a: &Operand, b: &Operand, hsic: Hsic) -> Result<Tensor> {
    let (fa, fb) = (a.centered()?, b.centered()?);
    let hab = cross_norm2(fa, fb)?;
    let (haa, hbb) = (fa.self_norm2()?, fb.self_norm2()?);
    let (num, da, db) = match hsic {
        Hsic::Gretton => (hab, haa, hbb),
        Hsic::Lange => {
            let (ra, rb) = (fa.row_norms()?, fb.row_norms()?);
            (
                (hab - tensor::dot(&ra, &rb)?)?,
                (haa - tensor::frob2(&ra)?)?,
                (hbb - tensor::frob2(&rb)?)?,
            )
        }
        Hsic::Song => {
            let n = a.rows() as f64;
            let (ra, rb) = (fa.row_norms()?, fb.row_norms()?);
            let (sa, sb) = (fa.frob2()?, fb.frob2()?);
            let k1 = n / (n - 2.0);
            let k2 = 1.0 / ((n - 1.0) * (n - 2.0));
            let d =
                |h: Tensor, r1: &Tensor, r2: &Tensor, s1: &Tensor, s2: &Tensor| -> Result<Tensor> {
                    (h - tensor::dot(r1, r2)?.affine(k1, 0.0)?)? + (s1 * s2)?.affine(k2, 0.0)?
                };
            (
                d(hab, &ra, &rb, &sa, &sb)?,
                d(haa, &ra, &ra, &sa, &sa)?,
                d(hbb, &rb, &rb, &sb, &sb)?,
            )
        }
    };
    num / (da.sqrt()? * db.sqrt()?)?
}

fn nbs(a: &Operand, b: &Operand) -> Result<Tensor> {
    super::operand::nbs(a.centered()?, b.centered()?)
}

fn euclidean(a: &Operand, b: &Operand, squared: bool) -> Result<(f64, Tensor)> {
    let (fa, fb) = (a.centered()?, b.centered()?);
    let nuc = super::operand::nuclear(fa, fb)?;
    let (na, nb) = (fa.frob2()?, fb.frob2()?);
    let d2 = ((&na + &nb)? - nuc.affine(2.0, 0.0)?)?;
    let (va, vb, v2) = (scalar(&na)?, scalar(&nb)?, scalar(&d2)?);
    // the measure engine's snap of rounding-level distances to 0
    let p = a.cols().max(b.cols()).min(a.rows()) as f64;
    let v2 = if v2 <= 8.0 * p * f64::EPSILON * (va + vb) {
        0.0
    } else {
        v2
    };
    if squared {
        let t = surrogate(v2, vec![Grad::Scalar(d2, 1.0)], a.dtype(), a.device())?;
        return Ok((v2, t));
    }
    let v = v2.sqrt();
    let slope = if v > 0.0 { 0.5 / v } else { f64::NAN };
    let (dtype, device) = dev(a);
    let t = if slope.is_finite() {
        surrogate(v, vec![Grad::Scalar(d2, slope)], dtype, &device)?
    } else {
        (tensor::constant(v, dtype, &device)? + (d2 * f64::NAN)?)?
    };
    Ok((v, t))
}

/// `Σρ / min(p1, p2)` (or `Σρ²/min`) with the canonical correlations through the host.
fn cca(a: &Operand, b: &Operand, squared: bool) -> Result<Tensor> {
    let k = a.cols().min(b.cols()) as f64;
    let side = |o: &Operand| -> Result<(Tensor, Option<Tensor>)> {
        if o.is_constant() {
            Ok((o.basis()?, None))
        } else {
            let c = o.centered_raw()?;
            let g = c.t()?.matmul(&c)?;
            Ok((c, Some(g)))
        }
    };
    let (ma, ga) = side(a)?;
    let (mb, gb) = side(b)?;
    let c = ma.t()?.matmul(&mb)?;
    let ch = to_mat(&c)?;
    let gah = ga.as_ref().map(to_mat).transpose()?;
    let gbh = gb.as_ref().map(to_mat).transpose()?;
    let r = host::cca(
        ch.as_ref(),
        gah.as_ref().map(|g| g.as_ref()),
        gbh.as_ref().map(|g| g.as_ref()),
        squared,
    )
    .map_err(|e| candle_core::Error::Msg(e.to_string()))?;
    let mut terms = vec![Grad::Matrix(c, r.c)];
    if let (Some(g), Some(gg)) = (ga, r.ga) {
        terms.push(Grad::Matrix(g, gg));
    }
    if let (Some(g), Some(gg)) = (gb, r.gb) {
        terms.push(Grad::Matrix(g, gg));
    }
    let (dtype, device) = dev(a);
    let t = surrogate(r.value, terms, dtype, &device)?;
    t.affine(1.0 / k, 0.0)
}

/// Correlation-RDM RSA from feature-space sums: with unit rows, `Σ_{i<j} g_ij = (‖1ᵀZ‖² − n)/2`
/// and `Σ_{i<j} g_ij h_ij = (‖ZxᵀZy‖² − n)/2`.
fn rsa(a: &Operand, b: &Operand, cmp: RsaCompare) -> Result<Tensor> {
    let (za, zb) = (a.corr_rows()?, b.corr_rows()?);
    let n = a.rows() as f64;
    let m = n * (n - 1.0) / 2.0;
    let half = |t: Tensor| t.affine(0.5, -0.5 * n);
    let sa = half(za.sum_gram()?)?;
    let sb = half(zb.sum_gram()?)?;
    let sab = half(cross_norm2(za, zb)?)?;
    let saa = half(za.self_norm2()?)?;
    let sbb = half(zb.self_norm2()?)?;
    match cmp {
        RsaCompare::Pearson => {
            let cov = (sab - (&sa * &sb)?.affine(1.0 / m, 0.0)?)?;
            let va = (saa - sa.sqr()?.affine(1.0 / m, 0.0)?)?;
            let vb = (sbb - sb.sqr()?.affine(1.0 / m, 0.0)?)?;
            cov / (va * vb)?.sqrt()?
        }
        RsaCompare::Cosine => {
            // RDM entries are 1 − g: Σ(1−g)(1−h) = m − Σg − Σh + Σgh
            let dot = (((sab - &sa)? - &sb)? + m)?;
            let na = ((saa - sa.affine(2.0, 0.0)?)? + m)?;
            let nb = ((sbb - sb.affine(2.0, 0.0)?)? + m)?;
            dot / (na * nb)?.sqrt()?
        }
    }
}
