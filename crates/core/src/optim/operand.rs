//! One side of a measure (the target X or the synthetic Y) with the intermediate quantities the
//! differentiable measures share, computed once per side: for a constant side (the target) once
//! per run, for the variable side once per iteration.

use std::cell::OnceCell;

use candle_core::{DType, Device, Result, Tensor};

use super::tensor::{self, from_mat, to_mat};
use crate::linalg;

fn cached(cell: &OnceCell<Tensor>, f: impl FnOnce() -> Result<Tensor>) -> Result<Tensor> {
    if let Some(t) = cell.get() {
        return Ok(t.clone());
    }
    let t = f()?;
    let _ = cell.set(t.clone());
    Ok(t)
}

/// A matrix `A` (`n × p`) known only up to `A ↦ A Q` (`Q` with orthonormal columns spanning its
/// row space): everything here depends on `A` through `A Aᵀ` only. For a constant `A` with
/// `p > n` the stored matrix is the `n × n` reduction `Ã` (`ÃÃᵀ = AAᵀ`), so products with the other
/// side cost `n²` instead of `n p` per row.
pub(crate) struct Factor {
    m: Tensor,
    constant: bool,
    n: usize,
    gram: OnceCell<Tensor>,
    self_norm2: OnceCell<Tensor>,
    frob2: OnceCell<Tensor>,
    row_norms: OnceCell<Tensor>,
}

impl Factor {
    pub fn new(a: Tensor, constant: bool) -> Result<Self> {
        let (n, p) = a.dims2()?;
        let m = if constant && p > n {
            let host = to_mat(&a)?;
            let r = linalg::row_space_reduce(host.as_ref());
            from_mat(r.as_ref(), a.dtype(), a.device())?
        } else {
            a
        };
        Ok(Factor {
            m,
            constant,
            n,
            gram: OnceCell::new(),
            self_norm2: OnceCell::new(),
            frob2: OnceCell::new(),
            row_norms: OnceCell::new(),
        })
    }

    /// The stored matrix (`n × k`).
    pub fn mat(&self) -> &Tensor {
        &self.m
    }

    pub fn cols(&self) -> usize {
        self.m.dims()[1]
    }

    /// The variable side with more columns than rows works with its `n × n` Gram.
    pub fn prefers_gram(&self) -> bool {
        !self.constant && self.cols() > self.n
    }

    /// Whether the Gram is cheap here (cached for a constant, needed anyway for a wide variable).
    fn gram_is_cheap(&self) -> bool {
        self.constant || self.prefers_gram()
    }

    /// `A Aᵀ` (a value: no gradient flows through it).
    pub fn gram(&self) -> Result<Tensor> {
        cached(&self.gram, || {
            let m = self.m.detach();
            m.matmul(&m.t()?)
        })
    }

    /// Whether gradients flow into this factor.
    pub fn tracks(&self) -> bool {
        self.m.track_op()
    }

    /// `‖AᵀA‖_F² = ‖AAᵀ‖_F²`, from whichever is smaller; gradient `4 A (AᵀA) = 4 (AAᵀ) A`.
    pub fn self_norm2(&self) -> Result<Tensor> {
        cached(&self.self_norm2, || {
            let m = self.m.detach();
            let (value, grad) = if self.cols() > self.n {
                let k = self.gram()?;
                let g = if self.tracks() {
                    Some(k.matmul(&m)?.affine(4.0, 0.0)?)
                } else {
                    None
                };
                (tensor::frob2(&k)?, g)
            } else {
                let g = m.t()?.matmul(&m)?;
                let grad = if self.tracks() {
                    Some(m.matmul(&g)?.affine(4.0, 0.0)?)
                } else {
                    None
                };
                (tensor::frob2(&g)?, grad)
            };
            tensor::attach(value, grad.map(|g| (&self.m, g)).into_iter().collect())
        })
    }

    /// `‖A‖_F²`.
    pub fn frob2(&self) -> Result<Tensor> {
        cached(&self.frob2, || tensor::frob2(&self.m))
    }

    /// Row squared norms `(AAᵀ)_ii`, shape `(n,)`.
    pub fn row_norms(&self) -> Result<Tensor> {
        cached(&self.row_norms, || self.m.sqr()?.sum(1))
    }

    /// `‖1ᵀA‖² = Σ_ij (AAᵀ)_ij`.
    pub fn sum_gram(&self) -> Result<Tensor> {
        tensor::frob2(&tensor::col_sums(&self.m)?)
    }
}

/// `AᵀB` (`k_a × k_b`), a value (no gradient).
pub(crate) fn cross(a: &Factor, b: &Factor) -> Result<Tensor> {
    a.mat().detach().t()?.matmul(&b.mat().detach())
}

/// `⟨AAᵀ, BBᵀ⟩ = ‖AᵀB‖²`, through the Grams when both are cheap and one is needed anyway;
/// gradients `2 A M`… computed directly (one product per tracked side).
pub(crate) fn cross_norm2(a: &Factor, b: &Factor) -> Result<Tensor> {
    let (am, bm) = (a.mat().detach(), b.mat().detach());
    let mut terms = Vec::new();
    let value = if a.gram_is_cheap() && b.gram_is_cheap() && (a.prefers_gram() || b.prefers_gram())
    {
        let (ka, kb) = (a.gram()?, b.gram()?);
        if a.tracks() {
            terms.push((a.mat(), kb.matmul(&am)?.affine(2.0, 0.0)?));
        }
        if b.tracks() {
            terms.push((b.mat(), ka.matmul(&bm)?.affine(2.0, 0.0)?));
        }
        tensor::dot(&ka, &kb)?
    } else {
        let m = cross(a, b)?;
        if a.tracks() {
            terms.push((a.mat(), bm.matmul(&m.t()?)?.affine(2.0, 0.0)?));
        }
        if b.tracks() {
            terms.push((b.mat(), am.matmul(&m)?.affine(2.0, 0.0)?));
        }
        tensor::frob2(&m)?
    };
    tensor::attach(value, terms)
}

/// `‖AᵀB‖_*` (SVD of the small cross-product on the host), gradients `B Gᵀ`, `A G` with
/// `G = U_r V_rᵀ`.
pub(crate) fn nuclear(a: &Factor, b: &Factor) -> Result<Tensor> {
    let (nuc, g) = super::host::nuclear_tensor(&cross(a, b)?)?;
    with_nuclear_gradients(a, b, nuc, &g, [0.0, 0.0])
}

/// NBS `v = ‖AᵀB‖_* / (‖A‖‖B‖)` with its gradients attached directly:
/// `∂v/∂A = B Gᵀ/(‖A‖‖B‖) − v A/‖A‖²`, and symmetrically for `B`. One product and one pass per
/// tracked side; composed from [`nuclear`] and `‖A‖²` in candle's graph, the norm alone cost a
/// squaring, a broadcast and an accumulation pass over `A` backward.
pub(crate) fn nbs(a: &Factor, b: &Factor) -> Result<Tensor> {
    let (nuc, g) = super::host::nuclear_tensor(&cross(a, b)?)?;
    let (na, nb) = (tensor::scalar(&a.frob2()?)?, tensor::scalar(&b.frob2()?)?);
    let den = (na * nb).sqrt();
    let v = nuc / den;
    with_nuclear_gradients(a, b, v, &g.affine(1.0 / den, 0.0)?, [v / na, v / nb])
}

/// The scalar `value` with gradients `B Gᵀ − k_a A` and `A G − k_b B` on the tracked sides.
fn with_nuclear_gradients(
    a: &Factor,
    b: &Factor,
    value: f64,
    g: &Tensor,
    [ka, kb]: [f64; 2],
) -> Result<Tensor> {
    let (am, bm) = (a.mat().detach(), b.mat().detach());
    let minus = |t: Tensor, side: &Tensor, k: f64| -> Result<Tensor> {
        if k == 0.0 {
            Ok(t)
        } else {
            t - side.affine(k, 0.0)?
        }
    };
    let mut terms = Vec::new();
    if a.tracks() {
        terms.push((a.mat(), minus(bm.matmul(&g.t()?)?, &am, ka)?));
    }
    if b.tracks() {
        terms.push((b.mat(), minus(am.matmul(g)?, &bm, kb)?));
    }
    tensor::attach(tensor::constant(value, g.dtype(), g.device())?, terms)
}

/// A data matrix as a measure operand: the raw matrix, its column-centred factor and, on demand,
/// the row-normalised factor of the correlation RDM and (constant sides) an orthonormal basis of
/// its centred column space.
pub struct Operand {
    raw: Tensor,
    constant: bool,
    centered: OnceCell<Factor>,
    rows: OnceCell<Factor>,
    basis: OnceCell<Tensor>,
    centered_raw: OnceCell<Tensor>,
}

impl Operand {
    /// A side that is not optimised (the target): its derived quantities are kept for reuse.
    pub fn constant(t: &Tensor) -> Result<Self> {
        Self::new(t.detach(), true)
    }

    /// A side that is optimised (gradients flow through it).
    pub fn variable(t: &Tensor) -> Result<Self> {
        Self::new(t.clone(), false)
    }

    fn new(t: Tensor, constant: bool) -> Result<Self> {
        let t = match t.rank() {
            2 => t,
            3 => {
                let (a, b, c) = t.dims3()?;
                t.reshape((a * b, c))?
            }
            r => {
                return Err(candle_core::Error::Msg(format!(
                    "expected a 2-D or 3-D tensor, got rank {r}"
                )));
            }
        };
        Ok(Operand {
            raw: t,
            constant,
            centered: OnceCell::new(),
            rows: OnceCell::new(),
            basis: OnceCell::new(),
            centered_raw: OnceCell::new(),
        })
    }

    pub fn is_constant(&self) -> bool {
        self.constant
    }

    /// The `n × p` matrix.
    pub fn raw(&self) -> &Tensor {
        &self.raw
    }

    pub fn rows(&self) -> usize {
        self.raw.dims()[0]
    }

    pub fn cols(&self) -> usize {
        self.raw.dims()[1]
    }

    pub fn dtype(&self) -> DType {
        self.raw.dtype()
    }

    pub fn device(&self) -> &Device {
        self.raw.device()
    }

    /// Column-centred matrix (not reduced).
    pub(crate) fn centered_raw(&self) -> Result<Tensor> {
        cached(&self.centered_raw, || tensor::center(&self.raw))
    }

    /// The column-centred factor `Xc`.
    pub(crate) fn centered(&self) -> Result<&Factor> {
        if let Some(f) = self.centered.get() {
            return Ok(f);
        }
        let f = Factor::new(self.centered_raw()?, self.constant)?;
        let _ = self.centered.set(f);
        Ok(self.centered.get().expect("just set"))
    }

    /// Rows centred across units and normalised (the correlation RDM is `1 − ZZᵀ`).
    pub(crate) fn corr_rows(&self) -> Result<&Factor> {
        if let Some(f) = self.rows.get() {
            return Ok(f);
        }
        let xm = self.raw.broadcast_sub(&self.raw.mean_keepdim(1)?)?;
        let norm = xm.sqr()?.sum_keepdim(1)?.sqrt()?;
        let z = xm.broadcast_div(&norm)?;
        let f = Factor::new(z, self.constant)?;
        let _ = self.rows.set(f);
        Ok(self.rows.get().expect("just set"))
    }

    /// Orthonormal basis of the centred column space, with the measure engine's rank rule
    /// (constant sides only; computed on the host in f64).
    pub(crate) fn basis(&self) -> Result<Tensor> {
        cached(&self.basis, || {
            let xc = to_mat(&self.centered_raw()?)?;
            let (q, _) = linalg::column_space(xc.as_ref())
                .map_err(|e| candle_core::Error::Msg(e.to_string()))?;
            from_mat(q.as_ref(), self.dtype(), self.device())
        })
    }
}
