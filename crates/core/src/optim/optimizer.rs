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
    m: Vec<Option<Tensor>>,
    v: Vec<Option<Tensor>>,
}

impl Adam {
    pub fn new(cfg: AdamConfig, n_params: usize) -> Self {
        Adam {
            cfg,
            t: 0,
            m: vec![None; n_params],
            v: vec![None; n_params],
        }
    }
}

impl Optimizer for Adam {
    fn step(&mut self, params: &[&Var], grads: &[&Tensor]) -> Result<()> {
        self.t += 1;
        let [b1, b2] = self.cfg.betas;
        let bc1 = 1.0 - b1.powi(self.t as i32);
        let bc2 = 1.0 - b2.powi(self.t as i32);
        let step_size = self.cfg.lr / bc1;
        for (k, (p, g)) in params.iter().zip(grads).enumerate() {
            let theta = p.as_detached_tensor();
            let mut g = g.detach();
            if self.cfg.weight_decay != 0.0 {
                g = (g + theta.affine(self.cfg.weight_decay, 0.0)?)?;
            }
            let m = match &self.m[k] {
                None => g.affine(1.0 - b1, 0.0)?,
                Some(m) => (m.affine(b1, 0.0)? + g.affine(1.0 - b1, 0.0)?)?,
            };
            let v = match &self.v[k] {
                None => g.sqr()?.affine(1.0 - b2, 0.0)?,
                Some(v) => (v.affine(b2, 0.0)? + g.sqr()?.affine(1.0 - b2, 0.0)?)?,
            };
            let denom = v.sqrt()?.affine(1.0 / bc2.sqrt(), self.cfg.eps)?;
            let update = (&m / denom)?.affine(step_size, 0.0)?;
            p.set(&(theta - update)?)?;
            self.m[k] = Some(m);
            self.v[k] = Some(v);
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
