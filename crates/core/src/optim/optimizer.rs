//! First-order optimizers on candle tensors, with PyTorch's update rules and defaults (apart from
//! the learning rate, whose default 0.1 is diffscore's).
//!
//! candle-nn's `AdamW` keeps its state private and applies decoupled weight decay; these are
//! `torch.optim.Adam` and `torch.optim.SGD`:
//!
//! - Adam: `g ← g + wd·θ`; `m ← β₁m + (1−β₁)g`; `v ← β₂v + (1−β₂)g²`;
//!   `θ ← θ − (lr/(1−β₁ᵗ)) · m / (sqrt(v)/sqrt(1−β₂ᵗ) + ε)`.
//! - SGD: `g ← g + wd·θ`; with momentum `b ← μb + (1−τ)g` (`b = g` at the first step) and
//!   `g ← g + μb` (Nesterov) or `g ← b`; `θ ← θ − lr·g`.

use candle_core::{Result, Tensor, Var};
use serde::{Deserialize, Serialize};

fn default_lr() -> f64 {
    0.1
}
fn default_betas() -> [f64; 2] {
    [0.9, 0.999]
}
fn default_eps() -> f64 {
    1e-8
}

/// `torch.optim.Adam` settings.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct AdamConfig {
    /// Learning rate (diffscore: 0.1; `joint_optim.py`: 0.01).
    #[serde(default = "default_lr")]
    pub lr: f64,
    #[serde(default = "default_betas")]
    pub betas: [f64; 2],
    #[serde(default = "default_eps")]
    pub eps: f64,
    /// L2 penalty added to the gradient (PyTorch's `weight_decay`).
    #[serde(default)]
    pub weight_decay: f64,
}

impl Default for AdamConfig {
    fn default() -> Self {
        AdamConfig {
            lr: default_lr(),
            betas: default_betas(),
            eps: default_eps(),
            weight_decay: 0.0,
        }
    }
}

/// `torch.optim.SGD` settings.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct SgdConfig {
    #[serde(default = "default_lr")]
    pub lr: f64,
    #[serde(default)]
    pub momentum: f64,
    #[serde(default)]
    pub dampening: f64,
    #[serde(default)]
    pub nesterov: bool,
    #[serde(default)]
    pub weight_decay: f64,
}

impl Default for SgdConfig {
    fn default() -> Self {
        SgdConfig {
            lr: default_lr(),
            momentum: 0.0,
            dampening: 0.0,
            nesterov: false,
            weight_decay: 0.0,
        }
    }
}

/// Which optimizer, with its settings: `{"kind": "adam", "lr": 0.1}`, `{"kind": "sgd", ...}`.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum OptimizerConfig {
    Adam(AdamConfig),
    Sgd(SgdConfig),
}

// The derived schema of an internally tagged enum of newtype variants is a `oneOf` of `allOf`s,
// which openapi-python-client cannot turn into a union (it drops every schema that uses it). This
// one says the same with each variant as one object: its settings plus the `kind` tag.
#[cfg(feature = "openapi")]
impl utoipa::PartialSchema for OptimizerConfig {
    fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
        use utoipa::openapi::RefOr;
        use utoipa::openapi::schema::{Object, ObjectBuilder, OneOfBuilder, Schema, Type};
        fn tagged(title: &str, kind: &str, settings: RefOr<Schema>) -> Schema {
            let mut obj = match settings {
                RefOr::T(Schema::Object(o)) => o,
                _ => Object::new(),
            };
            obj.title = Some(title.to_string());
            obj.properties.insert(
                "kind".to_string(),
                ObjectBuilder::new()
                    .schema_type(Type::String)
                    .enum_values(Some([kind]))
                    .into(),
            );
            obj.required.insert(0, "kind".to_string());
            Schema::Object(obj)
        }
        OneOfBuilder::new()
            .item(tagged(
                "AdamOptimizer",
                "adam",
                <AdamConfig as utoipa::PartialSchema>::schema(),
            ))
            .item(tagged(
                "SgdOptimizer",
                "sgd",
                <SgdConfig as utoipa::PartialSchema>::schema(),
            ))
            .description(Some(
                "Which optimizer, with its settings: `{\"kind\": \"adam\", \"lr\": 0.1}`, `{\"kind\": \"sgd\", ...}`.",
            ))
            .into()
    }
}

#[cfg(feature = "openapi")]
impl utoipa::ToSchema for OptimizerConfig {}

impl Default for OptimizerConfig {
    fn default() -> Self {
        OptimizerConfig::Adam(AdamConfig::default())
    }
}

impl OptimizerConfig {
    pub fn lr(&self) -> f64 {
        match self {
            OptimizerConfig::Adam(c) => c.lr,
            OptimizerConfig::Sgd(c) => c.lr,
        }
    }

    /// Checks the settings (finite, non-negative, betas in [0, 1)).
    pub fn validate(&self) -> std::result::Result<(), String> {
        let lr = self.lr();
        if !(lr.is_finite() && lr > 0.0) {
            return Err(format!("the learning rate must be positive; got {lr}"));
        }
        match self {
            OptimizerConfig::Adam(c) => {
                for b in c.betas {
                    if !(0.0..1.0).contains(&b) {
                        return Err(format!("Adam betas must lie in [0, 1); got {b}"));
                    }
                }
                if !(c.eps >= 0.0 && c.weight_decay >= 0.0) {
                    return Err("Adam eps and weight_decay must be ≥ 0".into());
                }
            }
            OptimizerConfig::Sgd(c) => {
                if !(c.momentum >= 0.0 && c.dampening >= 0.0 && c.weight_decay >= 0.0) {
                    return Err("SGD momentum, dampening and weight_decay must be ≥ 0".into());
                }
                if c.nesterov && (c.momentum <= 0.0 || c.dampening != 0.0) {
                    return Err("Nesterov momentum requires momentum > 0 and zero dampening".into());
                }
            }
        }
        Ok(())
    }

    /// A fresh optimizer for `n_params` parameters.
    pub fn build(&self, n_params: usize) -> Box<dyn Optimizer> {
        match *self {
            OptimizerConfig::Adam(c) => Box::new(Adam::new(c, n_params)),
            OptimizerConfig::Sgd(c) => Box::new(Sgd::new(c, n_params)),
        }
    }
}

/// A first-order optimizer over a fixed list of parameters.
pub trait Optimizer: Send {
    /// One update of every parameter from its gradient (same order as at construction).
    fn step(&mut self, params: &[&Var], grads: &[&Tensor]) -> Result<()>;
    fn learning_rate(&self) -> f64;
    fn set_learning_rate(&mut self, lr: f64);
}

pub struct Adam {
    cfg: AdamConfig,
    t: u32,
    moments: Vec<Option<Moments>>,
}

/// One parameter's first and second moments.
///
/// On the CPU they are plain vectors and the whole update is one pass over the parameter; as
/// tensor ops it would be about a dozen passes, each allocating a parameter-sized buffer (about
/// 10% of a step on a 3910 × 141 parameter). Both forms do the same f32/f64 operations in the same
/// order, so they give the same bits.
enum Moments {
    HostF32 { m: Vec<f32>, v: Vec<f32> },
    HostF64 { m: Vec<f64>, v: Vec<f64> },
    Device { m: Tensor, v: Tensor },
}

/// The constants of one Adam step.
#[derive(Clone, Copy)]
struct AdamStep {
    b1: f64,
    b2: f64,
    weight_decay: f64,
    inv_sqrt_bc2: f64,
    eps: f64,
    step_size: f64,
}

/// Element types with a fused CPU update, and the state variant that holds them.
trait HostAdam: candle_core::WithDType {
    /// `θ`, `m`, `v` updated in place from `g`, with candle's affine (`x·a + b`, constants
    /// rounded to the element type) for every scaling, as the tensor form does.
    fn update(c: AdamStep, theta: &mut [Self], g: &[Self], m: &mut [Self], v: &mut [Self]);
    fn state(m: Vec<Self>, v: Vec<Self>) -> Moments;
}

macro_rules! host_adam {
    ($t:ty, $variant:ident) => {
        impl HostAdam for $t {
            fn update(c: AdamStep, theta: &mut [$t], g: &[$t], m: &mut [$t], v: &mut [$t]) {
                let k = |x: f64| x as $t;
                let (b1, nb1, b2, nb2) = (k(c.b1), k(1.0 - c.b1), k(c.b2), k(1.0 - c.b2));
                let (wd, isb, eps, lr) = (
                    k(c.weight_decay),
                    k(c.inv_sqrt_bc2),
                    k(c.eps),
                    k(c.step_size),
                );
                let zero: $t = 0.0;
                for (((th, &g), m), v) in theta.iter_mut().zip(g).zip(m).zip(v) {
                    let g = if c.weight_decay != 0.0 {
                        g + (*th * wd + zero)
                    } else {
                        g
                    };
                    *m = (*m * b1 + zero) + (g * nb1 + zero);
                    *v = (*v * b2 + zero) + ((g * g) * nb2 + zero);
                    let denom = v.sqrt() * isb + eps;
                    *th -= (*m / denom) * lr + zero;
                }
            }

            fn state(m: Vec<$t>, v: Vec<$t>) -> Moments {
                Moments::$variant { m, v }
            }
        }
    };
}
host_adam!(f32, HostF32);
host_adam!(f64, HostF64);

impl Adam {
    pub fn new(cfg: AdamConfig, n_params: usize) -> Self {
        Adam {
            cfg,
            t: 0,
            moments: (0..n_params).map(|_| None).collect(),
        }
    }
}

/// The elements of a CPU tensor, in row-major order.
fn host_vec<T: candle_core::WithDType>(t: &Tensor) -> Result<Vec<T>> {
    t.flatten_all()?.to_vec1::<T>()
}

impl Adam {
    /// The fused CPU update of `p`; moments start at zero (`None`), which gives the same bits
    /// as the tensor form's first step.
    fn host_step<T: HostAdam>(
        c: AdamStep,
        p: &Var,
        g: &Tensor,
        state: Option<(Vec<T>, Vec<T>)>,
    ) -> Result<Moments> {
        let mut theta = host_vec::<T>(p.as_tensor())?;
        let zeros = || vec![T::from_f64(0.0); theta.len()];
        let (mut m, mut v) = state.unwrap_or_else(|| (zeros(), zeros()));
        T::update(c, &mut theta, &host_vec::<T>(g)?, &mut m, &mut v);
        p.set(&Tensor::from_vec(theta, p.shape(), p.device())?)?;
        Ok(T::state(m, v))
    }

    /// The tensor form, for parameters off the CPU.
    fn device_step(
        c: AdamStep,
        theta: &Tensor,
        g: Tensor,
        state: Option<(&Tensor, &Tensor)>,
    ) -> Result<(Tensor, Tensor, Tensor)> {
        let mut g = g;
        if c.weight_decay != 0.0 {
            g = (g + theta.affine(c.weight_decay, 0.0)?)?;
        }
        let (m, v) = match state {
            None => (
                g.affine(1.0 - c.b1, 0.0)?,
                g.sqr()?.affine(1.0 - c.b2, 0.0)?,
            ),
            Some((m, v)) => (
                (m.affine(c.b1, 0.0)? + g.affine(1.0 - c.b1, 0.0)?)?,
                (v.affine(c.b2, 0.0)? + g.sqr()?.affine(1.0 - c.b2, 0.0)?)?,
            ),
        };
        let denom = v.sqrt()?.affine(c.inv_sqrt_bc2, c.eps)?;
        let update = (&m / denom)?.affine(c.step_size, 0.0)?;
        Ok(((theta - update)?, m, v))
    }
}

impl Optimizer for Adam {
    fn step(&mut self, params: &[&Var], grads: &[&Tensor]) -> Result<()> {
        use candle_core::DType;
        self.t += 1;
        let [b1, b2] = self.cfg.betas;
        let c = AdamStep {
            b1,
            b2,
            weight_decay: self.cfg.weight_decay,
            inv_sqrt_bc2: 1.0 / (1.0 - b2.powi(self.t as i32)).sqrt(),
            eps: self.cfg.eps,
            step_size: self.cfg.lr / (1.0 - b1.powi(self.t as i32)),
        };
        for (k, (p, g)) in params.iter().zip(grads).enumerate() {
            let theta = p.as_detached_tensor();
            let g = g.detach();
            let on_host = theta.device().is_cpu();
            let state = self.moments[k].take();
            let next = match (theta.dtype(), state) {
                (DType::F32, None) if on_host => Self::host_step::<f32>(c, p, &g, None)?,
                (DType::F32, Some(Moments::HostF32 { m, v })) => {
                    Self::host_step(c, p, &g, Some((m, v)))?
                }
                (DType::F64, None) if on_host => Self::host_step::<f64>(c, p, &g, None)?,
                (DType::F64, Some(Moments::HostF64 { m, v })) => {
                    Self::host_step(c, p, &g, Some((m, v)))?
                }
                (_, state) => {
                    let prev = match &state {
                        Some(Moments::Device { m, v }) => Some((m, v)),
                        _ => None,
                    };
                    let (theta, m, v) = Self::device_step(c, &theta, g, prev)?;
                    p.set(&theta)?;
                    Moments::Device { m, v }
                }
            };
            self.moments[k] = Some(next);
        }
        Ok(())
    }

    fn learning_rate(&self) -> f64 {
        self.cfg.lr
    }

    fn set_learning_rate(&mut self, lr: f64) {
        self.cfg.lr = lr;
    }
}

pub struct Sgd {
    cfg: SgdConfig,
    buf: Vec<Option<Tensor>>,
}

impl Sgd {
    pub fn new(cfg: SgdConfig, n_params: usize) -> Self {
        Sgd {
            cfg,
            buf: vec![None; n_params],
        }
    }
}

impl Optimizer for Sgd {
    fn step(&mut self, params: &[&Var], grads: &[&Tensor]) -> Result<()> {
        for (k, (p, g)) in params.iter().zip(grads).enumerate() {
            let theta = p.as_detached_tensor();
            let mut g = g.detach();
            if self.cfg.weight_decay != 0.0 {
                g = (g + theta.affine(self.cfg.weight_decay, 0.0)?)?;
            }
            if self.cfg.momentum != 0.0 {
                let b = match &self.buf[k] {
                    None => g.clone(),
                    Some(b) => {
                        (b.affine(self.cfg.momentum, 0.0)?
                            + g.affine(1.0 - self.cfg.dampening, 0.0)?)?
                    }
                };
                g = if self.cfg.nesterov {
                    (g + b.affine(self.cfg.momentum, 0.0)?)?
                } else {
                    b.clone()
                };
                self.buf[k] = Some(b);
            }
            p.set(&(theta - g.affine(self.cfg.lr, 0.0)?)?)?;
        }
        Ok(())
    }

    fn learning_rate(&self) -> f64 {
        self.cfg.lr
    }

    fn set_learning_rate(&mut self, lr: f64) {
        self.cfg.lr = lr;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use candle_core::{DType, Device};

    /// The fused CPU update gives the same bits as the tensor form, step after step, in f32 and
    /// f64, with and without weight decay.
    #[test]
    fn fused_adam_matches_the_tensor_form() {
        for dtype in [DType::F32, DType::F64] {
            for weight_decay in [0.0, 0.01] {
                let cfg = AdamConfig {
                    lr: 0.05,
                    weight_decay,
                    ..Default::default()
                };
                let dev = Device::Cpu;
                let mut next = crate::test_data::stream(1);
                let init: Vec<f64> = (0..35).map(|_| next() - 0.5).collect();
                let theta0 = Tensor::from_vec(init, (7, 5), &dev)
                    .unwrap()
                    .to_dtype(dtype)
                    .unwrap();
                let p = Var::from_tensor(&theta0).unwrap();
                let mut adam = Adam::new(cfg, 1);
                let mut theta = theta0.clone();
                let mut state: Option<(Tensor, Tensor)> = None;
                for t in 1..=5 {
                    let g = (theta.sqr().unwrap() - theta.affine(0.3, 0.1).unwrap()).unwrap();
                    adam.step(&[&p], &[&g]).unwrap();
                    let [b1, b2] = cfg.betas;
                    let c = AdamStep {
                        b1,
                        b2,
                        weight_decay,
                        inv_sqrt_bc2: 1.0 / (1.0 - b2.powi(t)).sqrt(),
                        eps: cfg.eps,
                        step_size: cfg.lr / (1.0 - b1.powi(t)),
                    };
                    let prev = state.as_ref().map(|(m, v)| (m, v));
                    let (next, m, v) = Adam::device_step(c, &theta, g, prev).unwrap();
                    state = Some((m, v));
                    theta = next;
                    let fused =
                        host_vec::<f64>(&p.as_tensor().to_dtype(DType::F64).unwrap()).unwrap();
                    let tensor = host_vec::<f64>(&theta.to_dtype(DType::F64).unwrap()).unwrap();
                    assert_eq!(
                        fused, tensor,
                        "{dtype:?}, weight decay {weight_decay}, step {t}"
                    );
                }
                assert_ne!(
                    host_vec::<f64>(&theta.to_dtype(DType::F64).unwrap()).unwrap(),
                    host_vec::<f64>(&theta0.to_dtype(DType::F64).unwrap()).unwrap()
                );
            }
        }
    }
}
