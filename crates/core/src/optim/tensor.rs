//! Small helpers between candle tensors and faer matrices, and the linear surrogate that carries
//! host-computed gradients into candle's autograd.

use candle_core::{DType, Device, Result, Tensor};
use faer::{Mat, MatRef};

/// The value of a one-element tensor, as f64.
pub(crate) fn scalar(t: &Tensor) -> Result<f64> {
    t.to_dtype(DType::F64)?
        .flatten_all()?
        .to_vec1::<f64>()
        .map(|v| v[0])
}

/// A 2-D tensor as a host f64 matrix (detached).
pub(crate) fn to_mat(t: &Tensor) -> Result<Mat<f64>> {
    to_mat_t::<f64>(t)
}

/// A host matrix as a (constant) tensor of the given dtype on the given device.
pub(crate) fn from_mat(m: MatRef<'_, f64>, dtype: DType, device: &Device) -> Result<Tensor> {
    from_mat_t(m, dtype, device)
}

/// A scalar constant tensor.
pub(crate) fn constant(v: f64, dtype: DType, device: &Device) -> Result<Tensor> {
    Tensor::new(v, device)?.to_dtype(dtype)
}

/// `Σ a ⊙ b` as a scalar tensor.
pub(crate) fn dot(a: &Tensor, b: &Tensor) -> Result<Tensor> {
    (a * b)?.sum_all()
}

/// `‖a‖_F²` as a scalar tensor.
pub(crate) fn frob2(a: &Tensor) -> Result<Tensor> {
    a.sqr()?.sum_all()
}

/// Column sums `1ᵀa` (`1 × p`), as a product: candle's reduction over the leading dimension does
/// two integer divisions per element. On the Hatsopoulos-shaped ridge benchmark this made an
/// iteration about 10% faster (interleaved A/B runs); Mante-shaped runs did not change.
pub(crate) fn col_sums(a: &Tensor) -> Result<Tensor> {
    let n = a.dims()[0];
    Tensor::ones((1, n), a.dtype(), a.device())?.matmul(a)
}

/// Column-centred `a` (`H a = a − 1 (1ᵀa)/n`, `H = I − 11ᵀ/n`).
///
/// On the CPU this is one custom op: two passes forward (column sums, accumulated in f64, then the
/// subtraction) and, as `H` is symmetric, `H ḡ` backward. Built from candle ops it was five ops
/// forward and about as many parameter-sized passes and allocations backward. Other devices use
/// products (`1ᵀa` and `1 mᵀ`), so that neither pass has a leading-dimension reduction.
pub(crate) fn center(a: &Tensor) -> Result<Tensor> {
    if a.device().is_cpu() && a.rank() == 2 && matches!(a.dtype(), DType::F32 | DType::F64) {
        return a.contiguous()?.apply_op1(Center);
    }
    center_by_products(a)
}

/// [`center`] from candle ops, for devices without our kernel.
fn center_by_products(a: &Tensor) -> Result<Tensor> {
    let n = a.dims()[0];
    let ones = Tensor::ones((n, 1), a.dtype(), a.device())?;
    let mean = col_sums(a)?.affine(1.0 / n as f64, 0.0)?;
    a - ones.matmul(&mean)?
}

/// [`center`] on the CPU, for a contiguous row-major `n × p` matrix.
struct Center;

fn center_rows<T: candle_core::WithDType>(v: &[T], p: usize) -> Vec<T> {
    let n = v.len() / p.max(1);
    let mut sums = vec![0.0f64; p];
    for row in v.chunks_exact(p) {
        for (s, &x) in sums.iter_mut().zip(row) {
            *s += x.to_f64();
        }
    }
    let means: Vec<T> = sums.iter().map(|&s| T::from_f64(s / n as f64)).collect();
    let mut out = Vec::with_capacity(v.len());
    for row in v.chunks_exact(p) {
        out.extend(row.iter().zip(&means).map(|(&x, &m)| x - m));
    }
    out
}

impl candle_core::CustomOp1 for Center {
    fn name(&self) -> &'static str {
        "simscore-center-columns"
    }

    fn cpu_fwd(
        &self,
        storage: &candle_core::CpuStorage,
        layout: &candle_core::Layout,
    ) -> Result<(candle_core::CpuStorage, candle_core::Shape)> {
        use candle_core::CpuStorage;
        let (n, p) = layout.shape().dims2()?;
        let Some((start, end)) = layout.contiguous_offsets() else {
            candle_core::bail!("centring needs a contiguous matrix")
        };
        let out = match storage {
            CpuStorage::F32(v) => CpuStorage::F32(center_rows(&v[start..end], p)),
            CpuStorage::F64(v) => CpuStorage::F64(center_rows(&v[start..end], p)),
            _ => candle_core::bail!("centring takes f32 or f64"),
        };
        Ok((out, candle_core::Shape::from((n, p))))
    }

    fn bwd(&self, _arg: &Tensor, _res: &Tensor, grad_res: &Tensor) -> Result<Option<Tensor>> {
        center(&grad_res.contiguous()?).map(Some)
    }
}

/// A gradient term of a [`surrogate`]: the tensor `M` the host function read and `∂v/∂M`.
pub(crate) enum Grad {
    Matrix(Tensor, Mat<f64>),
    Scalar(Tensor, f64),
}

/// The scalar `v + Σ_i ⟨G_i, M_i − stop_grad(M_i)⟩`: its value is exactly `v`, its gradient with
/// respect to each `M_i` is exactly `G_i`. This is how values and gradients computed on the host
/// (decompositions, scalar functions such as arccos) enter candle's graph, on any device.
pub(crate) fn surrogate(v: f64, terms: Vec<Grad>, dtype: DType, device: &Device) -> Result<Tensor> {
    let mut out = constant(v, dtype, device)?;
    for term in terms {
        match term {
            Grad::Matrix(m, g) => {
                if !m.track_op() {
                    continue;
                }
                let g = from_mat(g.as_ref(), dtype, device)?;
                out = (out + probe(&m, g)?)?;
            }
            Grad::Scalar(s, g) => {
                if !s.track_op() {
                    continue;
                }
                let delta = (&s - s.detach())?;
                out = (out + delta.affine(g, 0.0)?)?;
            }
        }
    }
    Ok(out)
}

/// The scalar `value + Σ_i ⟨G_i, T_i − stop_grad(T_i)⟩` with device-side gradients `G_i`: the
/// value is `value`'s, the gradient with respect to each `T_i` is `G_i`. Used where candle's
/// autograd would waste work (its matmul backward always computes both operands' gradients, even
/// for a constant operand).
pub(crate) fn attach(value: Tensor, terms: Vec<(&Tensor, Tensor)>) -> Result<Tensor> {
    let mut out = value.detach();
    for (t, g) in terms {
        if !t.track_op() {
            continue;
        }
        out = (out + probe(t, g.detach())?)?;
    }
    Ok(out)
}

/// `⟨G, T − stop_grad(T)⟩`: the value 0 with the gradient `G` with respect to `T`.
///
/// On the CPU this is one custom op whose backward hands `G` on (times the incoming gradient):
/// the element-wise form costs three passes over `T` forward and four or five backward (candle
/// allocates, zeroes and adds each gradient), a sixth of a Hatsopoulos-shaped Procrustes step.
/// Other devices keep the element-wise form, which needs no kernel of ours.
fn probe(t: &Tensor, g: Tensor) -> Result<Tensor> {
    if t.device().is_cpu() && t.dims() == g.dims() && matches!(t.dtype(), DType::F32 | DType::F64) {
        t.apply_op1(Probe { g })
    } else {
        probe_elementwise(t, &g)
    }
}

/// [`probe`] from candle ops, for devices without our kernel.
fn probe_elementwise(t: &Tensor, g: &Tensor) -> Result<Tensor> {
    dot(&(t - t.detach())?, g)
}

struct Probe {
    g: Tensor,
}

impl candle_core::CustomOp1 for Probe {
    fn name(&self) -> &'static str {
        "simscore-gradient-probe"
    }

    fn cpu_fwd(
        &self,
        storage: &candle_core::CpuStorage,
        _layout: &candle_core::Layout,
    ) -> Result<(candle_core::CpuStorage, candle_core::Shape)> {
        use candle_core::CpuStorage;
        let zero = match storage {
            CpuStorage::F32(_) => CpuStorage::F32(vec![0.0]),
            CpuStorage::F64(_) => CpuStorage::F64(vec![0.0]),
            _ => candle_core::bail!("the gradient probe takes f32 or f64"),
        };
        Ok((zero, candle_core::Shape::from(())))
    }

    fn bwd(&self, _arg: &Tensor, _res: &Tensor, grad_res: &Tensor) -> Result<Option<Tensor>> {
        // The incoming gradient is a scalar: read it and scale (one contiguous pass, or none).
        let s = scalar(grad_res)?;
        if s == 1.0 {
            return Ok(Some(self.g.clone()));
        }
        Ok(Some(self.g.affine(s, 0.0)?))
    }
}

/// Host floating types for the decompositions: f32 runs decompose in f32, f64 runs in f64.
pub(crate) trait HostFloat:
    candle_core::WithDType + faer::traits::RealField + Copy + Send + Sync + 'static
{
    const HOST_DTYPE: DType;
    /// Machine epsilon, for numerical-rank cut-offs.
    const EPSILON: f64;
    fn from_host_f64(v: f64) -> Self;
}

impl HostFloat for f32 {
    const HOST_DTYPE: DType = DType::F32;
    const EPSILON: f64 = f32::EPSILON as f64;
    fn from_host_f64(v: f64) -> Self {
        v as f32
    }
}

impl HostFloat for f64 {
    const HOST_DTYPE: DType = DType::F64;
    const EPSILON: f64 = f64::EPSILON;
    fn from_host_f64(v: f64) -> Self {
        v
    }
}

/// A 2-D tensor as a host matrix of type `T` (detached).
pub(crate) fn to_mat_t<T: HostFloat>(t: &Tensor) -> Result<Mat<T>> {
    let (r, c) = t.dims2()?;
    let v = t
        .detach()
        .to_dtype(T::HOST_DTYPE)?
        .flatten_all()?
        .to_vec1::<T>()?;
    let mut m = Mat::<T>::zeros(r, c);
    for_each_tile(r, c, |i, j| m[(i, j)] = v[i * c + j]);
    Ok(m)
}

/// A host matrix of type `T` as a tensor of `dtype`.
pub(crate) fn from_mat_t<T: HostFloat>(
    m: MatRef<'_, T>,
    dtype: DType,
    device: &Device,
) -> Result<Tensor> {
    let (r, c) = m.shape();
    let mut v = vec![T::from_host_f64(0.0); r * c];
    for_each_tile(r, c, |i, j| v[i * c + j] = m[(i, j)]);
    Tensor::from_vec(v, (r, c), device)?.to_dtype(dtype)
}

/// Visits every `(i, j)` of an `r × c` matrix tile by tile (64 × 64), for copies between candle's
/// row-major and faer's column-major layouts: element order makes one side stride by a whole row
/// or column, which for a 727 × 727 matrix missed the cache on every element (8% of a
/// Mante-shaped ridge step went to these copies).
fn for_each_tile(r: usize, c: usize, mut f: impl FnMut(usize, usize)) {
    const TILE: usize = 64;
    for i0 in (0..r).step_by(TILE) {
        for j0 in (0..c).step_by(TILE) {
            for j in j0..(j0 + TILE).min(c) {
                for i in i0..(i0 + TILE).min(r) {
                    f(i, j);
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Host ↔ tensor copies keep every element in place, across tile boundaries.
    #[test]
    fn copies_between_layouts_keep_every_element() {
        let m = Mat::<f64>::from_fn(70, 130, |i, j| (i * 1000 + j) as f64);
        for dtype in [DType::F64, DType::F32] {
            let t = from_mat(m.as_ref(), dtype, &Device::Cpu).unwrap();
            let rows = t.to_dtype(DType::F64).unwrap().to_vec2::<f64>().unwrap();
            for (i, row) in rows.iter().enumerate() {
                for (j, &v) in row.iter().enumerate() {
                    assert_eq!(v, m[(i, j)]);
                }
            }
            assert_eq!(to_mat(&t).unwrap(), m);
            assert_eq!(to_mat_t::<f32>(&t).unwrap()[(69, 129)], 69129.0);
        }
    }

    /// The CPU centring op against the product form, value and gradient of `⟨W, H a⟩`
    /// (which is `H W`), in f64 and f32, on a contiguous and a transposed input.
    #[test]
    fn centring_op_matches_the_product_form() {
        let mut next = crate::test_data::stream(3);
        let (n, p) = (9, 4);
        let a: Vec<f64> = (0..n * p).map(|_| next() + 2.0).collect();
        let w: Vec<f64> = (0..n * p).map(|_| next() - 0.5).collect();
        for dtype in [DType::F64, DType::F32] {
            let tol = if dtype == DType::F64 { 1e-14 } else { 1e-5 };
            let w = Tensor::from_vec(w.clone(), (n, p), &Device::Cpu)
                .unwrap()
                .to_dtype(dtype)
                .unwrap();
            let base = Tensor::from_vec(a.clone(), (n, p), &Device::Cpu)
                .unwrap()
                .to_dtype(dtype)
                .unwrap();
            let transposed = base.t().unwrap().contiguous().unwrap().t().unwrap();
            for input in [base.clone(), transposed] {
                let var = candle_core::Var::from_tensor(&input).unwrap();
                let got = center(var.as_tensor()).unwrap();
                let want = center_by_products(var.as_tensor()).unwrap();
                let diff = |x: &Tensor, y: &Tensor| {
                    scalar(
                        &(x - y)
                            .unwrap()
                            .abs()
                            .unwrap()
                            .max_keepdim(0)
                            .unwrap()
                            .max_keepdim(1)
                            .unwrap()
                            .squeeze(0)
                            .unwrap()
                            .squeeze(0)
                            .unwrap(),
                    )
                    .unwrap()
                };
                assert!(diff(&got, &want) < tol, "{dtype:?} value");
                let g_got = dot(&got, &w).unwrap().backward().unwrap();
                let g_want = dot(&want, &w).unwrap().backward().unwrap();
                let (g1, g2) = (
                    g_got.get(var.as_tensor()).unwrap(),
                    g_want.get(var.as_tensor()).unwrap(),
                );
                assert!(diff(g1, g2) < tol, "{dtype:?} gradient");
                assert!(scalar(&frob2(g1).unwrap()).unwrap() > 0.1);
            }
        }
    }

    /// The CPU probe op and the element-wise form other devices use: value 0, and the same
    /// gradient `s·G` under an outer factor `s` (the op's backward scales by the incoming scalar).
    #[test]
    fn probe_op_matches_the_elementwise_form() {
        let mut next = crate::test_data::stream(5);
        let (n, p) = (7, 3);
        let a: Vec<f64> = (0..n * p).map(|_| next()).collect();
        let g: Vec<f64> = (0..n * p).map(|_| next() - 0.5).collect();
        for dtype in [DType::F64, DType::F32] {
            let t = |v: &[f64]| {
                Tensor::from_vec(v.to_vec(), (n, p), &Device::Cpu)
                    .unwrap()
                    .to_dtype(dtype)
                    .unwrap()
            };
            let var = candle_core::Var::from_tensor(&t(&a)).unwrap();
            let gt = t(&g);
            let op = probe(var.as_tensor(), gt.clone()).unwrap();
            let ew = probe_elementwise(var.as_tensor(), &gt).unwrap();
            assert_eq!(scalar(&op).unwrap(), 0.0);
            assert_eq!(scalar(&ew).unwrap(), 0.0);
            let grad = |x: &Tensor| {
                let gs = x.affine(-2.5, 0.0).unwrap().backward().unwrap();
                gs.get(var.as_tensor())
                    .unwrap()
                    .to_dtype(DType::F64)
                    .unwrap()
                    .flatten_all()
                    .unwrap()
                    .to_vec1::<f64>()
                    .unwrap()
            };
            let (g_op, g_ew) = (grad(&op), grad(&ew));
            for (k, (u, v)) in g_op.iter().zip(&g_ew).enumerate() {
                assert_eq!(u, v, "{dtype:?} element {k}");
                let want = -2.5 * g[k];
                assert!(
                    (u - want).abs() <= 1e-6 * want.abs().max(1.0),
                    "{dtype:?} {u} vs {want}"
                );
            }
        }
    }
}
