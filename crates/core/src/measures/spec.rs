//! Measure ids: parsing, canonical formatting, metadata and shape rules.
//!
//! Grammar (similarity-repository): `<family>[-<param>=<value>…]-<output>`, output one of `score`,
//! `squared_score`, `distance=angular`, `distance=euclidean`, `distance=squared_euclidean`,
//! `distance=one_minus_score`, plus `angular_score` for the diffscore paper's `1 − d/(π/2)`.
//! Regression ids use diffscore's grammar `{linreg|ridge-lambda{λ}}-{r2|pearsonr}[-sym]#{no_cv|
//! {k}folds_cv}` and the registry's `ridge-lambda=1-{r2,pearsonr,pearsonr2}-cv=5folds` (DeepDive)
//! and `ridge-pearsonr-cv=5folds[-reverse]` (NeuroAIMetrics).

use std::f64::consts::FRAC_PI_2;
use std::sync::OnceLock;

use super::condition_cv::{self, CvFit};
use super::context::Ctx;
use super::{Family, Invariances, Measure, MeasureError, MeasureInfo, ParameterInfo};
use super::{cca, cka, guarded_arccos, matching, procrustes, regression, rsa};

/// How a base score is turned into the reported value.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) enum Out {
    /// The score itself.
    Score,
    /// `s²`.
    Squared,
    /// `arccos(s)` (guarded at `|s − 1| < 1e−10`).
    Angular,
    /// `1 − arccos(s)/(π/2)` (diffscore's "angular score").
    AngularScore,
    /// `1 − s`.
    OneMinus,
    /// Procrustes Euclidean distance `‖A − B‖_F`.
    Euclidean,
    /// Its square.
    SqEuclidean,
}

impl Out {
    fn suffix(self) -> &'static str {
        match self {
            Out::Score => "score",
            Out::Squared => "squared_score",
            Out::Angular => "distance=angular",
            Out::AngularScore => "angular_score",
            Out::OneMinus => "distance=one_minus_score",
            Out::Euclidean => "distance=euclidean",
            Out::SqEuclidean => "distance=squared_euclidean",
        }
    }

    const ALL: [Out; 7] = [
        Out::OneMinus,
        Out::SqEuclidean,
        Out::Euclidean,
        Out::Angular,
        Out::AngularScore,
        Out::Squared,
        Out::Score,
    ];

    /// Apply to a similarity `s` in [−1, 1].
    pub fn apply(self, s: f64) -> f64 {
        match self {
            Out::Score => s,
            Out::Squared => s * s,
            Out::Angular => guarded_arccos(s),
            Out::AngularScore => 1.0 - guarded_arccos(s) / FRAC_PI_2,
            Out::OneMinus => 1.0 - s,
            Out::Euclidean | Out::SqEuclidean => f64::NAN,
        }
    }

    fn is_distance(self) -> bool {
        matches!(
            self,
            Out::Angular | Out::OneMinus | Out::Euclidean | Out::SqEuclidean
        )
    }
}

#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) enum Kernel {
    Linear,
    /// exp(−d²/(2σ²)) with σ in data units.
    RbfSigma(f64),
    /// Kornblith: σ² = t² · median of all n² squared distances (zero diagonal included).
    RbfThreshold(f64),
    /// thingsvision: σ² = median of the non-zero squared distances.
    RbfMedian,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Hsic {
    Gretton,
    Song,
    Lange,
}

#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) enum Trunc {
    Var(f64),
    Dim(usize),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) enum Rdm {
    Correlation,
    Euclidean,
    SquaredEuclidean,
    Cosine,
    Poisson,
    Gaussian,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Compare {
    Pearson,
    Spearman,
    KendallTauB,
    TauA,
    RhoA,
    Cosine,
    CosineCov,
    CorrCov,
    Bures,
    BuresMetric,
    Euclidean,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Agg {
    R2,
    PearsonR,
    PearsonR2,
}

#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Spec {
    Cka {
        kernel: Kernel,
        hsic: Hsic,
        out: Out,
    },
    Nbs {
        out: Out,
    },
    Bures,
    Procrustes {
        out: Out,
    },
    /// Procrustes fitted on k−1 contiguous folds and scored on the held-out one.
    ProcrustesCv {
        folds: usize,
        out: Out,
    },
    /// diffscore's random 80/20 splits over the conditions of a `(T, C, N)` input.
    ConditionCv {
        fit: CvFit,
        out: Out,
    },
    ShapeMetric {
        alpha: f64,
        out: Out,
    },
    PermutationMetric {
        out: Out,
    },
    Cca {
        out: Out,
    },
    Svcca {
        trunc: Trunc,
    },
    Pwcca,
    Rsa {
        rdm: Rdm,
        cmp: Compare,
    },
    LinReg {
        lambda: f64,
        folds: Option<usize>,
        agg: Agg,
        sym: bool,
    },
    LinRegQr {
        angular: bool,
    },
    DeepDive {
        agg: Agg,
    },
    NeuroAi {
        reverse: bool,
    },
    SoftMatch,
    Ensd,
}

/// Python-style float formatting for ids (`1.0`, `0.5`).
fn pyf(x: f64) -> String {
    if x.fract() == 0.0 && x.abs() < 1e15 {
        format!("{x:.1}")
    } else {
        format!("{x}")
    }
}

/// diffscore-style λ (`100`, `0.5`).
fn lam(x: f64) -> String {
    if x.fract() == 0.0 && x.abs() < 1e15 {
        format!("{}", x as i64)
    } else {
        format!("{x}")
    }
}

impl Kernel {
    fn id(self) -> String {
        match self {
            Kernel::Linear => "linear".into(),
            Kernel::RbfSigma(s) => format!("(rbf-sigma={})", pyf(s)),
            Kernel::RbfThreshold(t) => format!("(rbf-threshold={})", pyf(t)),
            Kernel::RbfMedian => "(rbf-median)".into(),
        }
    }
}

impl Rdm {
    pub(crate) fn name(self) -> &'static str {
        match self {
            Rdm::Correlation => "correlation",
            Rdm::Euclidean => "euclidean",
            Rdm::SquaredEuclidean => "squared_euclidean",
            Rdm::Cosine => "cosine",
            Rdm::Poisson => "poisson",
            Rdm::Gaussian => "gaussian",
        }
    }
    const ALL: [Rdm; 6] = [
        Rdm::Correlation,
        Rdm::Euclidean,
        Rdm::SquaredEuclidean,
        Rdm::Cosine,
        Rdm::Poisson,
        Rdm::Gaussian,
    ];
}

impl Compare {
    fn name(self) -> &'static str {
        match self {
            Compare::Pearson => "pearson",
            Compare::Spearman => "spearman",
            Compare::KendallTauB => "kendall",
            Compare::TauA => "tau_a",
            Compare::RhoA => "rho_a",
            Compare::Cosine => "cosine",
            Compare::CosineCov => "cosine_cov",
            Compare::CorrCov => "corr_cov",
            Compare::Bures => "bures",
            Compare::BuresMetric => "bures_metric",
            Compare::Euclidean => "euclidean",
        }
    }
    const ALL: [Compare; 11] = [
        Compare::Pearson,
        Compare::Spearman,
        Compare::KendallTauB,
        Compare::TauA,
        Compare::RhoA,
        Compare::Cosine,
        Compare::CosineCov,
        Compare::CorrCov,
        Compare::Bures,
        Compare::BuresMetric,
        Compare::Euclidean,
    ];
}

impl Agg {
    fn name(self) -> &'static str {
        match self {
            Agg::R2 => "r2",
            Agg::PearsonR => "pearsonr",
            Agg::PearsonR2 => "pearsonr2",
        }
    }
}

impl Spec {
    /// The canonical id.
    pub fn id(&self) -> String {
        match self {
            Spec::Cka { kernel, hsic, out } => {
                let h = match hsic {
                    Hsic::Gretton => "gretton",
                    Hsic::Song => "song",
                    Hsic::Lange => "lange",
                };
                format!("cka-kernel={}-hsic={h}-{}", kernel.id(), out.suffix())
            }
            Spec::Nbs { out } => format!("nbs-{}", out.suffix()),
            Spec::Bures => "bures_distance".into(),
            Spec::Procrustes { out } => format!("procrustes-{}", out.suffix()),
            Spec::ProcrustesCv { folds, out } => {
                format!("procrustes-{}-cv={folds}folds", out.suffix())
            }
            Spec::ConditionCv { fit, out } => {
                let family = match fit {
                    CvFit::Procrustes => "procrustes",
                    CvFit::LinReg => "linreg",
                };
                format!("{family}-{}-cv=conditions", out.suffix())
            }
            Spec::ShapeMetric { alpha, out } => {
                format!("shape_metric-alpha={}-{}", pyf(*alpha), out.suffix())
            }
            Spec::PermutationMetric { out } => format!("permutation_metric-{}", out.suffix()),
            Spec::Cca { out } => format!("cca-{}", out.suffix()),
            Spec::Svcca { trunc } => match trunc {
                Trunc::Var(v) => format!("svcca-var={v}-score"),
                Trunc::Dim(k) => format!("svcca-dim={k}-score"),
            },
            Spec::Pwcca => "pwcca-score".into(),
            Spec::Rsa { rdm, cmp } => format!("rsa-rdm={}-compare={}", rdm.name(), cmp.name()),
            Spec::LinReg {
                lambda,
                folds,
                agg,
                sym,
            } => {
                let name = if *lambda == 0.0 {
                    "linreg".to_string()
                } else {
                    format!("ridge-lambda{}", lam(*lambda))
                };
                let cv = match folds {
                    None => "no_cv".to_string(),
                    Some(k) => format!("{k}folds_cv"),
                };
                let sym = if *sym { "-sym" } else { "" };
                format!("{name}-{}{sym}#{cv}", agg.name())
            }
            Spec::LinRegQr { angular } => {
                if *angular {
                    "linreg-angular".into()
                } else {
                    "linreg".into()
                }
            }
            Spec::DeepDive { agg } => format!("ridge-lambda=1-{}-cv=5folds", agg.name()),
            Spec::NeuroAi { reverse } => {
                if *reverse {
                    "ridge-pearsonr-cv=5folds-reverse".into()
                } else {
                    "ridge-pearsonr-cv=5folds".into()
                }
            }
            Spec::SoftMatch => "soft_correlation_match".into(),
            Spec::Ensd => "ensd".into(),
        }
    }

    /// Shape rules, checked before any arithmetic.
    pub fn check_shapes(
        &self,
        id: &str,
        n: usize,
        p1: usize,
        p2: usize,
        conditions: Option<usize>,
    ) -> Result<(), MeasureError> {
        let req = |requirement: &str, got: String| MeasureError::Requirement {
            measure: id.to_string(),
            requirement: requirement.to_string(),
            got,
        };
        if n == 0 || p1 == 0 || p2 == 0 {
            return Err(req("non-empty X and Y", format!("n={n}, p1={p1}, p2={p2}")));
        }
        if n < 2 {
            return Err(req(
                "at least 2 rows (stimuli/conditions): with one row there is no variation to compare",
                format!("n={n}"),
            ));
        }
        match self {
            Spec::Cka {
                hsic: Hsic::Song, ..
            } if n < 4 => Err(req(
                "at least 4 rows (the unbiased HSIC estimator divides by (n−2)(n−3))",
                format!("n={n}"),
            )),
            Spec::Cca { .. } | Spec::Pwcca if p1 >= n || p2 >= n => Err(req(
                "fewer units than rows in both X and Y (CCA needs p < n); reduce the units, e.g. with svcca-var=0.99-score, or use a Procrustes/CKA measure",
                format!("n={n}, p1={p1}, p2={p2}"),
            )),
            Spec::Svcca {
                trunc: Trunc::Dim(k),
            } if *k > p1.min(p2) || *k >= n => Err(req(
                &format!(
                    "dim ≤ min(p1, p2) and dim < n (PCA keeps {k} components, then CCA needs {k} < n)"
                ),
                format!("n={n}, p1={p1}, p2={p2}"),
            )),
            Spec::Svcca { .. } if n < 3 => Err(req("at least 3 rows", format!("n={n}"))),
            Spec::Rsa { .. } if n < 3 => Err(req(
                "at least 3 rows (an RDM needs at least 3 off-diagonal entries to correlate)",
                format!("n={n}"),
            )),
            Spec::Rsa {
                rdm: Rdm::Correlation,
                ..
            } if p1 < 2 || p2 < 2 => Err(req(
                "at least 2 units in X and Y (the correlation RDM centres each row across units)",
                format!("p1={p1}, p2={p2}"),
            )),
            Spec::ProcrustesCv { folds: k, .. } if n < *k => Err(req(
                &format!("at least {k} rows for {k}-fold cross-validation"),
                format!("n={n}"),
            )),
            Spec::ProcrustesCv { folds: k, .. } if p1.min(p2) >= n - n.div_ceil(*k) => Err(req(
                "fewer units than training rows (min(p1, p2) < n − n/k): the rotation fitted on the training rows must be unique",
                format!("n={n}, p1={p1}, p2={p2}"),
            )),
            Spec::ConditionCv { fit, .. } => {
                let Some(c) = conditions.filter(|&c| c > 0 && n.is_multiple_of(c)) else {
                    return Err(req(
                        "3-D (time, conditions, units) inputs: it splits the conditions (axis 1) into fitted and held-out ones",
                        format!("{n} rows without a condition axis"),
                    ));
                };
                let train = n / c * condition_cv::fit_conditions(c);
                let width = match fit {
                    CvFit::Procrustes => p1.min(p2),
                    CvFit::LinReg => p2,
                };
                if c < 2 || train == n {
                    Err(req(
                        "at least 2 conditions, so that ⌊0.8·C⌋ are fitted on and the rest held out",
                        format!("C={c}"),
                    ))
                } else if width >= train {
                    Err(req(
                        match fit {
                            CvFit::Procrustes => {
                                "fewer units than training rows (min(p1, p2) < T·⌊0.8·C⌋): the fitted rotation must be unique"
                            }
                            CvFit::LinReg => {
                                "fewer units in Y than training rows (p2 < T·⌊0.8·C⌋): the least-squares fit must be unique"
                            }
                        },
                        format!("T·⌊0.8·C⌋={train}, p1={p1}, p2={p2}"),
                    ))
                } else {
                    Ok(())
                }
            }
            Spec::LinReg { folds: Some(k), .. } if n < *k => Err(req(
                &format!("at least {k} rows for {k}-fold cross-validation"),
                format!("n={n}"),
            )),
            Spec::DeepDive { .. } if n < 5 => Err(req(
                "at least 5 rows for 5-fold cross-validation",
                format!("n={n}"),
            )),
            Spec::NeuroAi { .. } if n < 10 => Err(req(
                "at least 10 rows (5 shuffled folds with at least 2 test rows each for per-unit correlations)",
                format!("n={n}"),
            )),
            _ => Ok(()),
        }
    }

    /// Compute on a prepared pair.
    pub fn eval(&self, id: &str, ctx: &Ctx<'_>) -> Result<f64, MeasureError> {
        match self {
            Spec::Cka { kernel, hsic, out } => Ok(out.apply(cka::cka(ctx, *kernel, *hsic, id)?)),
            Spec::Nbs { out } => Ok(out.apply(procrustes::nbs(ctx, id)?)),
            Spec::Bures => procrustes::euclidean(ctx, id).map(|d2| d2.sqrt()),
            Spec::Procrustes { out } => match out {
                Out::Euclidean => procrustes::euclidean(ctx, id).map(f64::sqrt),
                Out::SqEuclidean => procrustes::euclidean(ctx, id),
                Out::Score => procrustes::nbs(ctx, id),
                o => Ok(o.apply(procrustes::nbs(ctx, id)?)),
            },
            Spec::ShapeMetric { alpha, out } => procrustes::shape_metric(ctx, *alpha, *out, id),
            Spec::ProcrustesCv { folds, out } => {
                procrustes::procrustes_cv(ctx.x, ctx.y, *folds, *out, id)
            }
            Spec::ConditionCv { fit, out } => {
                let c = ctx.conditions.ok_or_else(|| MeasureError::Requirement {
                    measure: id.to_string(),
                    requirement: "3-D (time, conditions, units) inputs".into(),
                    got: "no condition axis".into(),
                })?;
                condition_cv::score(*fit, *out, ctx.x, ctx.y, c, id)
            }
            Spec::PermutationMetric { out } => procrustes::permutation_metric(ctx, *out, id),
            Spec::Cca { out } => {
                let rho = ctx.canonical_correlations(id)?;
                let k = ctx.x.ncols().min(ctx.y.ncols()) as f64;
                match out {
                    Out::Squared => Ok(rho.iter().map(|r| r * r).sum::<f64>() / k),
                    o => Ok(o.apply(rho.iter().sum::<f64>() / k)),
                }
            }
            Spec::Svcca { trunc } => cca::svcca(ctx, *trunc, id),
            Spec::Pwcca => cca::pwcca(ctx, id),
            Spec::Rsa { rdm, cmp } => rsa::rsa(ctx, *rdm, *cmp, id),
            Spec::LinReg {
                lambda,
                folds,
                agg,
                sym,
            } => {
                let f = regression::linreg(ctx.x, ctx.y, *lambda, *folds, *agg, id)?;
                if *sym {
                    let g = regression::linreg(ctx.y, ctx.x, *lambda, *folds, *agg, id)?;
                    Ok(0.5 * (f + g))
                } else {
                    Ok(f)
                }
            }
            Spec::LinRegQr { angular } => regression::linreg_qr(ctx, *angular, id),
            Spec::DeepDive { agg } => regression::deepdive(ctx.x, ctx.y, *agg, id),
            Spec::NeuroAi { reverse } => {
                if *reverse {
                    regression::neuroai(ctx.y, ctx.x, id)
                } else {
                    regression::neuroai(ctx.x, ctx.y, id)
                }
            }
            Spec::SoftMatch => matching::soft_match(ctx, id),
            Spec::Ensd => matching::ensd(ctx, id),
        }
    }

    fn family(&self) -> Family {
        match self {
            Spec::Cka { .. } => Family::Cka,
            Spec::Nbs { .. } | Spec::Bures => Family::Nbs,
            Spec::Procrustes { .. }
            | Spec::ProcrustesCv { .. }
            | Spec::ConditionCv {
                fit: CvFit::Procrustes,
                ..
            }
            | Spec::PermutationMetric { .. } => Family::Procrustes,
            Spec::ShapeMetric { .. } => Family::ShapeMetric,
            Spec::Cca { .. } | Spec::Svcca { .. } | Spec::Pwcca => Family::Cca,
            Spec::Rsa { .. } => Family::Rsa,
            Spec::LinReg { .. }
            | Spec::ConditionCv {
                fit: CvFit::LinReg, ..
            }
            | Spec::LinRegQr { .. }
            | Spec::DeepDive { .. }
            | Spec::NeuroAi { .. } => Family::Regression,
            Spec::SoftMatch => Family::Matching,
            Spec::Ensd => Family::Ensd,
        }
    }

    /// Metadata for this (possibly parametrised) measure.
    pub fn describe(&self) -> MeasureInfo {
        let id = self.id();
        let inv = |permutation, orthogonal, isotropic_scaling, translation, invertible_linear| {
            Invariances {
                permutation,
                orthogonal,
                isotropic_scaling,
                translation,
                invertible_linear,
            }
        };
        let p = |name: &str, default: String, description: &str| ParameterInfo {
            name: name.into(),
            default,
            description: description.into(),
        };
        let unit = [Some(0.0), Some(1.0)];
        let signed = [Some(-1.0), Some(1.0)];
        let angle = [Some(0.0), Some(FRAC_PI_2)];
        let nonneg = [Some(0.0), None];
        let r2 = [None, Some(1.0)];
        let out_range = |out: Out, score_range: [Option<f64>; 2]| match out {
            Out::Score => score_range,
            Out::Squared | Out::AngularScore => unit,
            Out::Angular => {
                if score_range[0] == Some(-1.0) {
                    [Some(0.0), Some(std::f64::consts::PI)]
                } else {
                    angle
                }
            }
            Out::OneMinus => {
                if score_range[0] == Some(-1.0) {
                    [Some(0.0), Some(2.0)]
                } else {
                    unit
                }
            }
            Out::Euclidean | Out::SqEuclidean => nonneg,
        };
        let out_words = |out: Out| match out {
            Out::Score => "",
            Out::Squared => " (squared)",
            Out::Angular => ", as the angular distance arccos(score) in radians",
            Out::AngularScore => ", as the paper's angular score 1 − arccos(score)/(π/2)",
            Out::OneMinus => ", as the distance 1 − score",
            Out::Euclidean => ", as a Euclidean distance",
            Out::SqEuclidean => ", as a squared Euclidean distance",
        };
        let mut higher = true;
        let mut parameters = vec![];
        let mut requirements = "n ≥ 2".to_string();
        let (description, range, invariances, symmetric, reference): (String, _, _, bool, String) =
            match self {
                Spec::Cka { kernel, hsic, out } => {
                    higher = !out.is_distance();
                    let (kdesc, scale_inv) = match kernel {
                        Kernel::Linear => ("linear kernel".to_string(), true),
                        Kernel::RbfSigma(s) => {
                            parameters.push(p("sigma", pyf(*s), "RBF bandwidth in data units"));
                            (format!("RBF kernel exp(−d²/(2σ²)) with absolute σ = {}", pyf(*s)), false)
                        }
                        Kernel::RbfThreshold(t) => {
                            parameters.push(p(
                                "threshold",
                                pyf(*t),
                                "σ² = threshold² × median of all n² squared distances (Kornblith's gram_rbf)",
                            ));
                            (format!("RBF kernel with Kornblith's rule σ = {} × sqrt(median squared distance), per matrix", pyf(*t)), true)
                        }
                        Kernel::RbfMedian => (
                            "RBF kernel with the median rule σ² = median of the non-zero squared distances, per matrix".to_string(),
                            true,
                        ),
                    };
                    let (hdesc, score_range, href) = match hsic {
                        Hsic::Gretton => (
                            "biased (Gretton) HSIC: cosine of the centred Grams HKH",
                            unit,
                            match kernel {
                                Kernel::Linear => "similarity-repository 035b3be representation_similarity.feature_space_linear_cka (Kornblith 2019); diffscore 43456c2 `cka`",
                                Kernel::RbfThreshold(_) => "similarity-repository 035b3be representation_similarity.cka(gram_rbf(X, threshold), gram_rbf(Y, threshold))",
                                _ => "similarity-repository 035b3be thingsvision CKANumPy(kernel='rbf', unbiased=False)",
                            },
                        ),
                        Hsic::Song => (
                            "debiased (Song) HSIC: U-centred Grams with zero diagonal",
                            [None, Some(1.0)],
                            "similarity-repository 035b3be representation_similarity.feature_space_linear_cka(debiased=True) / cka(..., debiased=True); diffscore 43456c2 `cka-hsic_song`",
                        ),
                        Hsic::Lange => (
                            "Lange: cosine of HKH with the diagonal zeroed",
                            [None, Some(1.0)],
                            "repsim AngularCKA(use_unbiased_hsic=True) (formula from shared/specs/measures.md §1a A; not run)",
                        ),
                    };
                    if *hsic == Hsic::Song {
                        requirements = "n ≥ 4".into();
                    }
                    let r = out_range(*out, score_range);
                    let r = if *out == Out::Angular && score_range[0].is_none() {
                        [Some(0.0), Some(std::f64::consts::PI)]
                    } else if *out == Out::OneMinus && score_range[0].is_none() {
                        [Some(0.0), None]
                    } else if *out == Out::AngularScore && score_range[0].is_none() {
                        [Some(-1.0), Some(1.0)]
                    } else {
                        r
                    };
                    (
                        format!("Centred kernel alignment with a {kdesc} and {hdesc}{}", out_words(*out)),
                        r,
                        inv(true, true, scale_inv, true, false),
                        true,
                        href.to_string(),
                    )
                }
                Spec::Nbs { out } => {
                    higher = !out.is_distance();
                    (
                        format!("Normalized Bures similarity ‖XcᵀYc‖_* / (‖Xc‖_F ‖Yc‖_F){}", out_words(*out)),
                        out_range(*out, unit),
                        inv(true, true, true, true, false),
                        true,
                        "similarity-repository 035b3be nn_similarity_index SimIndex.nbs (Tang 2020); diffscore 43456c2 `nbs*`".into(),
                    )
                }
                Spec::Bures => {
                    higher = false;
                    (
                        "Bures distance sqrt(tr K_X + tr K_Y − 2‖XcᵀYc‖_*), equal to the Euclidean Procrustes distance".into(),
                        nonneg,
                        inv(true, true, false, true, false),
                        true,
                        "similarity-repository 035b3be nn_similarity_index SimIndex.bures_distance".into(),
                    )
                }
                Spec::Procrustes { out } => {
                    higher = !out.is_distance();
                    let scale = !matches!(out, Out::Euclidean | Out::SqEuclidean);
                    (
                        match out {
                            Out::Score => "Procrustes score cos(angular Procrustes distance) = NBS (the registry's standardised procrustes-score)".to_string(),
                            Out::Euclidean => "Euclidean Procrustes distance min_Q ‖Xc − Yc Q‖_F over orthogonal Q (zero-padding the narrower matrix)".into(),
                            Out::SqEuclidean => "Squared Euclidean Procrustes distance ‖Xc‖² + ‖Yc‖² − 2‖XcᵀYc‖_*".into(),
                            o => format!("Orthogonal Procrustes, arccos(‖XcᵀYc‖_* / (‖Xc‖‖Yc‖)){}", match o {
                                Out::AngularScore => ", as the paper's angular Procrustes score 1 − d/(π/2)",
                                _ => " (angular distance, radians)",
                            }),
                        },
                        out_range(*out, unit),
                        inv(true, true, scale, true, false),
                        true,
                        "netrep 0186b8a LinearMetric(alpha=1, zero_pad=True); diffscore 43456c2 `procrustes-*` (RegCCA, float64)".into(),
                    )
                }
                Spec::ProcrustesCv { folds, out } => {
                    higher = *out == Out::AngularScore;
                    parameters.push(p("folds", folds.to_string(), "KFold(k, shuffle=False) over rows"));
                    requirements = format!("n ≥ {folds}, min(p1, p2) < training rows");
                    (
                        format!(
                            "Cross-validated orthogonal Procrustes: centre with the training means, fit the rotation on {} of the {folds} contiguous folds, align the held-out rows with it and average the held-out {}",
                            folds - 1,
                            match out {
                                Out::Euclidean => "Euclidean distances ‖Xte U − Yte V‖_F",
                                Out::AngularScore => "angular distances, reported as 1 − d/(π/2)",
                                _ => "angular distances arccos(⟨Xte U, Yte V⟩ / (‖Xte‖‖Yte‖))",
                            }
                        ),
                        // held-out rows can align worse than chance: cosines down to −1
                        match out {
                            Out::Euclidean => nonneg,
                            Out::AngularScore => signed,
                            _ => [Some(0.0), Some(std::f64::consts::PI)],
                        },
                        inv(true, true, *out != Out::Euclidean, true, false),
                        true,
                        "diffscore 43456c2 `procrustes-angular#5folds_cv` (kfold_crossval + RegCCA(alpha=1)); its `procrustes-angular-score#5folds_cv` is the Euclidean and `procrustes-euclidean-score#5folds_cv` the angular distance".into(),
                    )
                }
                Spec::ConditionCv { fit, out } => {
                    higher = *out == Out::AngularScore || *out == Out::Score;
                    parameters.push(p("splits", condition_cv::SPLITS.to_string(), "random splits of the conditions (fixed seed)"));
                    parameters.push(p("fit_ratio", "0.8".into(), "share of the conditions fitted on: ⌊0.8·C⌋ of them, at every time step"));
                    let (what, range, inv_all, reference) = match fit {
                        CvFit::Procrustes => (
                            format!(
                                "orthogonal Procrustes fitted on the training conditions (centred with their means) and scored on the held-out ones by the angular distance arccos(⟨Xte U, Yte V⟩ / (‖Xte‖‖Yte‖)){}",
                                if *out == Out::AngularScore { ", reported as 1 − d/(π/2)" } else { "" }
                            ),
                            // held-out rows can align worse than chance: cosines down to −1
                            if *out == Out::AngularScore {
                                signed
                            } else {
                                [Some(0.0), Some(std::f64::consts::PI)]
                            },
                            inv(true, true, true, true, false),
                            if *out == Out::AngularScore {
                                "1 − d/(π/2) of diffscore 43456c2 `procrustes-angular-cv` (RegCCA(alpha=1), 5 × torch.randperm splits of axis 1; same value for the same splits). diffscore's own `procrustes-angular-cv-score` is the k-fold `procrustes-angular_score-cv=5folds`: it calls a name that a later definition rebinds"
                            } else {
                                "diffscore 43456c2 `procrustes-angular-cv` (RegCCA(alpha=1), 5 × torch.randperm splits of axis 1; same value for the same splits)"
                            },
                        ),
                        CvFit::LinReg => (
                            format!(
                                "least squares predicting X from Y, fitted on the training conditions (centred with their means) and scored on the held-out ones by R² = 1 − ‖Xte − X̂te‖²/‖Xte‖²{}",
                                if *out == Out::Angular { ", as arccos(R²) (0 when |R² − 1| < 1e−5)" } else { "" }
                            ),
                            if *out == Out::Angular { [Some(0.0), Some(std::f64::consts::PI)] } else { r2 },
                            inv(true, true, true, true, false),
                            "diffscore 43456c2 `linreg-cv` / `linreg-angular-cv` (torch.linalg.lstsq, 5 × torch.randperm splits of axis 1; same value for the same splits)",
                        ),
                    };
                    requirements = format!(
                        "a 3-D (T, C, N) input with C ≥ 2, and {} < T·⌊0.8·C⌋",
                        if *fit == CvFit::Procrustes { "min(p1, p2)" } else { "p2" }
                    );
                    (
                        format!(
                            "Cross-validated over conditions: in each of {} random splits (fixed seed; diffscore's are unseeded), {what}; the mean over the splits",
                            condition_cv::SPLITS
                        ),
                        range,
                        inv_all,
                        *fit == CvFit::Procrustes,
                        reference.to_string(),
                    )
                }
                Spec::ShapeMetric { alpha, out } => {
                    higher = false;
                    parameters.push(p(
                        "alpha",
                        pyf(*alpha),
                        "regularisation in [0, 1]: 0 = CCA (full whitening), 1 = Procrustes (no whitening)",
                    ));
                    let full = *alpha == 0.0;
                    let none = *alpha > 1.0 - 1e-7;
                    (
                        format!(
                            "Generalised shape metric (netrep LinearMetric): partial whitening with α = {}, zero padding, optimal rotation{}",
                            pyf(*alpha),
                            out_words(*out)
                        ),
                        out_range(*out, unit),
                        inv(true, true, (full || none) && *out == Out::Angular, true, full && *out == Out::Angular),
                        true,
                        "netrep 0186b8a LinearMetric(alpha, zero_pad=True, score_method)".into(),
                    )
                }
                Spec::PermutationMetric { out } => {
                    higher = false;
                    (
                        format!("Angular/Euclidean distance after the optimal permutation of units (linear assignment on XcᵀYc), zero-padded{}", out_words(*out)),
                        // the best permutation can still leave a negative inner product
                        out_range(*out, signed),
                        inv(true, false, *out == Out::Angular, true, false),
                        true,
                        "netrep 0186b8a PermutationMetric (scipy linear_sum_assignment)".into(),
                    )
                }
                Spec::Cca { out } => {
                    higher = !out.is_distance();
                    requirements = "p1 < n and p2 < n".into();
                    (
                        format!(
                            "Mean canonical correlation (1/min(p1,p2)) Σρ_i over all min(p1,p2) coefficients{}",
                            match out {
                                Out::Squared => " of ρ_i² (R²_CCA)",
                                o => out_words(*o),
                            }
                        ),
                        out_range(*out, unit),
                        inv(true, true, true, true, true),
                        true,
                        "similarity-repository 035b3be svcca/contrasim compute_cca (mean of all ρ), sim_metric mean_cca_corr; cca-squared_score: representation_similarity.cca".into(),
                    )
                }
                Spec::Svcca { trunc } => {
                    requirements = "enough rows for CCA on the kept components (k < n)".into();
                    match trunc {
                        Trunc::Var(v) => parameters.push(p(
                            "var",
                            format!("{v}"),
                            "keep the fewest PCs whose cumulative explained-variance ratio exceeds var",
                        )),
                        Trunc::Dim(k) => parameters.push(p("dim", format!("{k}"), "number of PCs kept")),
                    }
                    (
                        "SVCCA: PCA of X and of Y separately (sklearn PCA), then mean canonical correlation of the PC scores".into(),
                        unit,
                        inv(true, true, true, true, false),
                        true,
                        "similarity-repository 035b3be standardisation cca → svcca (sklearn PCA then CCA)".into(),
                    )
                }
                Spec::Pwcca => {
                    requirements = "p1 < n and p2 < n".into();
                    (
                        "Projection-weighted CCA (Morcos 2018), weights from X's canonical variates: Σ α_i ρ_i. For p1 > p2 the weights of the p1 − p2 variates without a partner depend on an arbitrary basis (as in the reference), so only p1 ≤ p2 is well defined".into(),
                        unit,
                        inv(false, false, true, true, false),
                        false,
                        "similarity-repository 035b3be sim_metric pwcca_dist (1 − distance); works for any p1, p2 < n".into(),
                    )
                }
                Spec::Rsa { rdm, cmp } => {
                    requirements = match rdm {
                        Rdm::Poisson => "n ≥ 3; non-negative counts".into(),
                        _ => "n ≥ 3".into(),
                    };
                    let rdesc = match rdm {
                        Rdm::Correlation => "correlation RDM 1 − corr(x_i, x_j) across units",
                        Rdm::Euclidean => "Euclidean-distance RDM",
                        Rdm::SquaredEuclidean => "squared-Euclidean RDM (rsatoolbox 'euclidean', /p)",
                        Rdm::Cosine => "cosine-distance RDM",
                        Rdm::Poisson => "Poisson RDM (rsatoolbox: symmetrised KL divergence of smoothed rates, /p)",
                        Rdm::Gaussian => "Gaussian-kernel RDM 1 − exp(−d²/mean d²) (thingsvision)",
                    };
                    let cdesc = match cmp {
                        Compare::Pearson => "Pearson correlation",
                        Compare::Spearman => "Spearman correlation (average ranks)",
                        Compare::KendallTauB => "Kendall's tau-b",
                        Compare::TauA => "Kendall's tau-a",
                        Compare::RhoA => "Spearman's rho-a (no tie correction)",
                        Compare::Cosine => "cosine similarity",
                        Compare::CosineCov => "whitened cosine (cosine of the double-centred −½HDH)",
                        Compare::CorrCov => "whitened correlation (cosine of −½HDH after removing the mean distance)",
                        Compare::Bures => "Bures similarity (fidelity of the double-centred −½HDH)",
                        Compare::BuresMetric => "squared Bures metric (of the double-centred −½HDH)",
                        Compare::Euclidean => "Euclidean distance",
                    };
                    let distance = matches!(cmp, Compare::BuresMetric | Compare::Euclidean);
                    higher = !distance;
                    let orth = !matches!(rdm, Rdm::Correlation | Rdm::Poisson);
                    let trans = matches!(rdm, Rdm::Euclidean | Rdm::SquaredEuclidean | Rdm::Gaussian);
                    // the distances keep the RDM's scale; the others are ratios
                    let scale = match rdm {
                        Rdm::Poisson => false,
                        Rdm::Correlation | Rdm::Cosine | Rdm::Gaussian => true,
                        _ => !distance,
                    };
                    (
                        format!("RSA: {cdesc} of the {rdesc}s of X and Y"),
                        // the Poisson RDM is not Euclidean: its second moment can be indefinite, so
                        // the Bures similarity can exceed 1 and the metric fall below 0
                        match (cmp, rdm) {
                            (Compare::Bures, Rdm::Poisson) => nonneg,
                            (Compare::BuresMetric, Rdm::Poisson) => [None, None],
                            (Compare::Bures, _) => unit,
                            (Compare::BuresMetric | Compare::Euclidean, _) => nonneg,
                            _ => signed,
                        },
                        inv(true, orth, scale, trans, false),
                        // rsatoolbox's Bures clips only the first moment, which matters when the
                        // Poisson RDM's second moment is indefinite
                        !(*rdm == Rdm::Poisson && matches!(cmp, Compare::Bures | Compare::BuresMetric)),
                        "rsatoolbox 0.3.2 calc_rdm + compare (via similarity-repository 035b3be); kendall = scipy kendalltau (tau-b) as NeuroAIMetrics RSA; mahalanobis (identity precision) = squared_euclidean; gaussian RDM as thingsvision compute_rdm; euclidean comparison as resi representational_similarity_analysis (similarity-repository 035b3be)".into(),
                    )
                }
                Spec::LinReg {
                    lambda,
                    folds,
                    agg,
                    sym,
                } => {
                    parameters.push(p("lambda", lam(*lambda), "ridge penalty λ in data units (0 = least squares)"));
                    parameters.push(p(
                        "folds",
                        folds.map_or("none".into(), |k| k.to_string()),
                        "KFold(k, shuffle=False) over rows; none = in-sample",
                    ));
                    if let Some(k) = folds {
                        requirements = format!("n ≥ {k}");
                    }
                    let range = if *agg == Agg::R2 { r2 } else { signed };
                    (
                        format!(
                            "diffscore measure_linreg: predict X (first argument) from Y with {} ({}), {}{}",
                            if *lambda == 0.0 { "least squares".to_string() } else { format!("ridge λ = {}", lam(*lambda)) },
                            folds.map_or("in-sample".to_string(), |k| format!("mean over {k} contiguous folds")),
                            if *agg == Agg::R2 { "pooled R² with the training mean" } else { "uncentred cosine between the centred test targets and predictions" },
                            if *sym { "; symmetrised ½(f(X,Y) + f(Y,X))" } else { "" }
                        ),
                        range,
                        inv(true, true, *lambda == 0.0, true, false),
                        *sym,
                        "diffscore 43456c2 measures.measure_linreg / measure_linreg_sym".into(),
                    )
                }
                Spec::LinRegQr { angular } => {
                    higher = !angular;
                    (
                        format!(
                            "diffscore `linreg`: in-sample R² = ‖Q_Yᵀ Xc‖² / ‖Xc‖² with Q from the QR of the zero-padded Yc{}",
                            if *angular { ", as arccos(R²) (0 when |R²−1| < 1e−5)" } else { "" }
                        ),
                        if *angular { angle } else { unit },
                        // the spurious Householder columns (p2 < p1 or rank deficiency) depend on
                        // the order and basis of Y's units, so only scaling/translation are safe
                        inv(false, false, true, true, false),
                        false,
                        "diffscore 43456c2 measures.linreg (inflated when p2 < p1, see spec pitfall 1)".into(),
                    )
                }
                Spec::DeepDive { agg } => {
                    requirements = "n ≥ 5".into();
                    (
                        format!(
                            "DeepDive neural_regression: predict Y (second argument) from X with sklearn Ridge(alpha=1) with intercept, KFold(5) out-of-fold predictions, {} per Y column, averaged",
                            match agg { Agg::R2 => "r2_score", Agg::PearsonR => "Pearson r", Agg::PearsonR2 => "squared Pearson r" }
                        ),
                        if *agg == Agg::R2 { r2 } else if *agg == Agg::PearsonR2 { unit } else { signed },
                        inv(true, false, false, true, false),
                        false,
                        "similarity-repository 035b3be deepdive neural_regression (alpha1 and the 'alpha0' ids, which are also Ridge(1))".into(),
                    )
                }
                Spec::NeuroAi { reverse } => {
                    requirements = "n ≥ 10".into();
                    (
                        format!(
                            "NeuroAIMetrics LinearPredictivity: predict {} from the other with RidgeCV(logspace(−8, 8, 17)) on z-scored predictors, KFold(5, shuffle, seed 42), per-unit Pearson r on the test fold, mean",
                            if *reverse { "X (first argument)" } else { "Y (second argument)" }
                        ),
                        signed,
                        inv(true, false, true, true, false),
                        false,
                        "similarity-repository 035b3be neuroaimetrics LinearPredictivity / reverseLinearPredictivity (sklearn RidgeCV)".into(),
                    )
                }
                Spec::SoftMatch => (
                    "Soft matching (Khosla & Williams): 1 − ⟨T, C⟩ with C = 1 − cosine of column-centred units and T the exact optimal transport plan between uniform weights".into(),
                    signed,
                    inv(true, false, true, true, false),
                    true,
                    "similarity-repository 035b3be neuroaimetrics SoftMatching (POT ot.emd; the reference builds C in float32, so agreement is ~1e−6)".into(),
                ),
                Spec::Ensd => (
                    "Effective number of shared dimensions tr(XᵀYYᵀX)·tr(XᵀX)·tr(YᵀY) / (tr((XᵀX)²)·tr((YᵀY)²)) on centred data".into(),
                    nonneg,
                    inv(true, true, true, true, false),
                    true,
                    "diffscore 43456c2 `ensd`".into(),
                ),
            };
        if matches!(self, Spec::Svcca { .. }) {
            requirements = "n ≥ 3; CCA on the kept PCs needs k < n".into();
        }
        MeasureInfo {
            aliases: aliases_of(&id),
            id,
            family: self.family(),
            description,
            higher_is_more_similar: higher,
            range,
            parameters,
            invariances,
            symmetric,
            requirements,
            reference,
        }
    }
}

/// diffscore ids and registry synonyms → canonical ids.
const ALIASES: &[(&str, &str)] = &[
    ("cka", "cka-kernel=linear-hsic=gretton-score"),
    (
        "rsa-correlation-corr",
        "cka-kernel=linear-hsic=gretton-score",
    ),
    (
        "cka-angular",
        "cka-kernel=linear-hsic=gretton-distance=angular",
    ),
    (
        "cka-angular-score",
        "cka-kernel=linear-hsic=gretton-angular_score",
    ),
    ("cka-hsic_song", "cka-kernel=linear-hsic=song-score"),
    ("nbs", "nbs-score"),
    ("nbs-squared", "nbs-squared_score"),
    ("nbs-angular", "nbs-distance=angular"),
    ("nbs-angular-score", "nbs-angular_score"),
    ("procrustes-angular", "procrustes-distance=angular"),
    ("procrustes-angular-score", "procrustes-angular_score"),
    ("procrustes-euclidean", "procrustes-distance=euclidean"),
    ("cca-angular", "cca-distance=angular"),
    (
        "procrustes-angular#5folds_cv",
        "procrustes-distance=angular-cv=5folds",
    ),
    // diffscore registers these two with swapped scoring methods; the aliases follow the values
    (
        "procrustes-euclidean-score#5folds_cv",
        "procrustes-distance=angular-cv=5folds",
    ),
    (
        "procrustes-angular-score#5folds_cv",
        "procrustes-distance=euclidean-cv=5folds",
    ),
    ("cca-angular-score", "cca-angular_score"),
    ("svcca-score", "cca-score"),
    (
        "linear_regression-r2-cv=5folds",
        "ridge-lambda=1-r2-cv=5folds",
    ),
    (
        "linear_regression-pearsonr-cv=5folds",
        "ridge-lambda=1-pearsonr-cv=5folds",
    ),
    (
        "linear_regression-pearsonr2-cv=5folds",
        "ridge-lambda=1-pearsonr2-cv=5folds",
    ),
    // diffscore's random splits over conditions (its `linreg-r2#5folds_cv` is k-fold over rows)
    (
        "procrustes-angular-cv",
        "procrustes-distance=angular-cv=conditions",
    ),
    // diffscore's `procrustes_angular_cv_score` calls the module-level `procrustes_angular_cv`,
    // which a later definition rebinds to the k-fold `procrustes-angular#5folds_cv`
    (
        "procrustes-angular-cv-score",
        "procrustes-angular_score-cv=5folds",
    ),
    ("linreg-cv", "linreg-score-cv=conditions"),
    // diffscore's own RSA ids
    (
        "rsa-euclidean-corr",
        "rsa-rdm=squared_euclidean-compare=pearson",
    ),
    (
        "rsa-euclidean-cosine",
        "rsa-rdm=squared_euclidean-compare=cosine",
    ),
    (
        "rsa-correlation-cosine",
        "rsa-rdm=correlation-compare=cosine",
    ),
    // the double-centred squared-distance matrix is −2·HKH, so its cosine is linear CKA
    (
        "rsa-euclidean-centered-cosine",
        "cka-kernel=linear-hsic=gretton-score",
    ),
    ("linreg-angular-cv", "linreg-distance=angular-cv=conditions"),
];

fn aliases_of(id: &str) -> Vec<String> {
    ALIASES
        .iter()
        .filter(|(_, c)| *c == id)
        .map(|(a, _)| a.to_string())
        .collect()
}

/// The canonical specs listed by [`catalogue`].
fn canonical_specs() -> Vec<Spec> {
    use Out::*;
    let mut v = vec![];
    for out in [Score, Angular, AngularScore, OneMinus] {
        v.push(Spec::Cka {
            kernel: Kernel::Linear,
            hsic: Hsic::Gretton,
            out,
        });
    }
    for hsic in [Hsic::Song, Hsic::Lange] {
        v.push(Spec::Cka {
            kernel: Kernel::Linear,
            hsic,
            out: Score,
        });
    }
    for kernel in [
        Kernel::RbfThreshold(1.0),
        Kernel::RbfMedian,
        Kernel::RbfSigma(1.0),
    ] {
        for hsic in [Hsic::Gretton, Hsic::Song] {
            v.push(Spec::Cka {
                kernel,
                hsic,
                out: Score,
            });
        }
    }
    for out in [Score, Squared, Angular, AngularScore] {
        v.push(Spec::Nbs { out });
    }
    v.push(Spec::Bures);
    for out in [Angular, AngularScore, Score, Euclidean, SqEuclidean] {
        v.push(Spec::Procrustes { out });
    }
    for out in [Angular, AngularScore, Euclidean] {
        v.push(Spec::ProcrustesCv { folds: 5, out });
    }
    for (fit, out) in [
        (CvFit::Procrustes, Angular),
        (CvFit::Procrustes, AngularScore),
        (CvFit::LinReg, Score),
        (CvFit::LinReg, Angular),
    ] {
        v.push(Spec::ConditionCv { fit, out });
    }
    for out in [Angular, Euclidean] {
        v.push(Spec::ShapeMetric { alpha: 0.5, out });
    }
    v.push(Spec::PermutationMetric { out: Angular });
    v.push(Spec::PermutationMetric { out: Euclidean });
    for out in [Score, Squared, Angular, AngularScore] {
        v.push(Spec::Cca { out });
    }
    v.push(Spec::Svcca {
        trunc: Trunc::Var(0.99),
    });
    v.push(Spec::Svcca {
        trunc: Trunc::Var(0.95),
    });
    v.push(Spec::Svcca {
        trunc: Trunc::Dim(10),
    });
    v.push(Spec::Pwcca);
    for rdm in Rdm::ALL {
        for cmp in Compare::ALL {
            v.push(Spec::Rsa { rdm, cmp });
        }
    }
    for folds in [None, Some(5)] {
        for lambda in [0.0, 1.0, 10.0, 100.0, 1000.0, 10000.0] {
            for agg in [Agg::R2, Agg::PearsonR] {
                for sym in [false, true] {
                    v.push(Spec::LinReg {
                        lambda,
                        folds,
                        agg,
                        sym,
                    });
                }
            }
        }
    }
    v.push(Spec::LinRegQr { angular: false });
    v.push(Spec::LinRegQr { angular: true });
    for agg in [Agg::R2, Agg::PearsonR, Agg::PearsonR2] {
        v.push(Spec::DeepDive { agg });
    }
    v.push(Spec::NeuroAi { reverse: false });
    v.push(Spec::NeuroAi { reverse: true });
    v.push(Spec::SoftMatch);
    v.push(Spec::Ensd);
    v
}

/// Every measure with its canonical id and default parameters.
pub fn catalogue() -> &'static [MeasureInfo] {
    static CAT: OnceLock<Vec<MeasureInfo>> = OnceLock::new();
    CAT.get_or_init(|| canonical_specs().iter().map(Spec::describe).collect())
}

/// Resolve an id (canonical, parametrised, `measure/<repo>/`-prefixed) or alias.
pub fn find(id_or_alias: &str) -> Result<Measure, MeasureError> {
    let raw = id_or_alias.trim();
    let spec = parse(raw).map_err(|e| match e {
        ParseError::Unknown => MeasureError::UnknownMeasure {
            id: raw.to_string(),
            suggestions: suggestions(raw),
        },
        ParseError::Param(message) => MeasureError::InvalidParameter {
            id: raw.to_string(),
            message,
        },
    })?;
    Ok(Measure {
        info: spec.describe(),
        spec,
    })
}

enum ParseError {
    Unknown,
    Param(String),
}

fn num(s: &str, what: &str) -> Result<f64, ParseError> {
    let v: f64 = s
        .parse()
        .map_err(|_| ParseError::Param(format!("{what} must be a number, got `{s}`")))?;
    if !v.is_finite() {
        return Err(ParseError::Param(format!(
            "{what} must be finite, got `{s}`"
        )));
    }
    Ok(v)
}

fn split_out(s: &str) -> Option<(&str, Out)> {
    Out::ALL.iter().find_map(|o| {
        s.strip_suffix(o.suffix())
            .and_then(|b| b.strip_suffix('-'))
            .map(|b| (b, *o))
    })
}

fn parse(raw: &str) -> Result<Spec, ParseError> {
    // `measure/<repo>/<name>` → `<name>`; kernels contain no '/'.
    let s = raw.strip_prefix("measure/").unwrap_or(raw);
    let s = match s.rfind('/') {
        Some(i) if !s[..i].contains('(') => &s[i + 1..],
        _ => s,
    };
    let s = ALIASES
        .iter()
        .find(|(a, _)| *a == s)
        .map(|(_, c)| *c)
        .unwrap_or(s);
    if s.contains('#') {
        return parse_linreg(s);
    }
    match s {
        "bures_distance" => return Ok(Spec::Bures),
        "linreg" => return Ok(Spec::LinRegQr { angular: false }),
        "linreg-angular" => return Ok(Spec::LinRegQr { angular: true }),
        "ridge-pearsonr-cv=5folds" => return Ok(Spec::NeuroAi { reverse: false }),
        "ridge-pearsonr-cv=5folds-reverse" => return Ok(Spec::NeuroAi { reverse: true }),
        "soft_correlation_match" => return Ok(Spec::SoftMatch),
        "ensd" => return Ok(Spec::Ensd),
        "procrustes-distance=angular-cv=conditions" => {
            return Ok(Spec::ConditionCv {
                fit: CvFit::Procrustes,
                out: Out::Angular,
            });
        }
        "procrustes-angular_score-cv=conditions" => {
            return Ok(Spec::ConditionCv {
                fit: CvFit::Procrustes,
                out: Out::AngularScore,
            });
        }
        "linreg-score-cv=conditions" => {
            return Ok(Spec::ConditionCv {
                fit: CvFit::LinReg,
                out: Out::Score,
            });
        }
        "linreg-distance=angular-cv=conditions" => {
            return Ok(Spec::ConditionCv {
                fit: CvFit::LinReg,
                out: Out::Angular,
            });
        }
        _ => {}
    }
    if let Some(rest) = s.strip_prefix("ridge-lambda=1-")
        && let Some(agg) = rest.strip_suffix("-cv=5folds")
    {
        let agg = match agg {
            "r2" => Agg::R2,
            "pearsonr" => Agg::PearsonR,
            "pearsonr2" => Agg::PearsonR2,
            _ => return Err(ParseError::Unknown),
        };
        return Ok(Spec::DeepDive { agg });
    }
    if let Some(rest) = s.strip_prefix("rsa-rdm=") {
        let (rdm, cmp) = rest.split_once("-compare=").ok_or(ParseError::Unknown)?;
        let rdm = match rdm {
            "correlation" => Rdm::Correlation,
            "euclidean" => Rdm::Euclidean,
            // rsatoolbox's mahalanobis with its default identity precision
            "squared_euclidean" | "mahalanobis" => Rdm::SquaredEuclidean,
            "cosine" => Rdm::Cosine,
            "poisson" => Rdm::Poisson,
            "gaussian" => Rdm::Gaussian,
            _ => return Err(ParseError::Unknown),
        };
        let cmp = match cmp {
            "pearson" | "corr" => Compare::Pearson,
            "spearman" => Compare::Spearman,
            "kendall" | "tau_b" => Compare::KendallTauB,
            "tau_a" => Compare::TauA,
            "rho_a" => Compare::RhoA,
            "cosine" => Compare::Cosine,
            "cosine_cov" => Compare::CosineCov,
            "corr_cov" => Compare::CorrCov,
            "bures" => Compare::Bures,
            "bures_metric" => Compare::BuresMetric,
            "euclidean" => Compare::Euclidean,
            _ => return Err(ParseError::Unknown),
        };
        return Ok(Spec::Rsa { rdm, cmp });
    }
    if let Some(rest) = s.strip_prefix("cka-kernel=") {
        let (kernel, rest) = if let Some(inner) = rest.strip_prefix('(') {
            let close = inner.find(')').ok_or(ParseError::Unknown)?;
            let k = &inner[..close];
            let kernel = if k == "rbf-median" {
                Kernel::RbfMedian
            } else if let Some(v) = k.strip_prefix("rbf-sigma=") {
                let v = num(v, "sigma")?;
                if v <= 0.0 {
                    return Err(ParseError::Param("sigma must be > 0".into()));
                }
                Kernel::RbfSigma(v)
            } else if let Some(v) = k.strip_prefix("rbf-threshold=") {
                let v = num(v, "threshold")?;
                if v <= 0.0 {
                    return Err(ParseError::Param("threshold must be > 0".into()));
                }
                Kernel::RbfThreshold(v)
            } else {
                return Err(ParseError::Unknown);
            };
            (kernel, &inner[close + 1..])
        } else {
            let r = rest.strip_prefix("linear").ok_or(ParseError::Unknown)?;
            (Kernel::Linear, r)
        };
        let rest = rest.strip_prefix("-hsic=").ok_or(ParseError::Unknown)?;
        let (h, out) = split_out(rest).ok_or(ParseError::Unknown)?;
        let hsic = match h {
            "gretton" => Hsic::Gretton,
            "song" => Hsic::Song,
            "lange" => Hsic::Lange,
            _ => return Err(ParseError::Unknown),
        };
        if !matches!(
            out,
            Out::Score | Out::Angular | Out::AngularScore | Out::OneMinus
        ) {
            return Err(ParseError::Unknown);
        }
        return Ok(Spec::Cka { kernel, hsic, out });
    }
    if let Some(rest) = s.strip_prefix("procrustes-")
        && let Some((out, k)) = rest.split_once("-cv=")
    {
        let folds: usize = k
            .strip_suffix("folds")
            .ok_or(ParseError::Unknown)?
            .parse()
            .map_err(|_| ParseError::Param(format!("bad fold count in `-cv={k}`")))?;
        if folds < 2 {
            return Err(ParseError::Param(
                "cross-validation needs at least 2 folds".into(),
            ));
        }
        let out = [Out::Angular, Out::AngularScore, Out::Euclidean]
            .into_iter()
            .find(|o| o.suffix() == out)
            .ok_or(ParseError::Unknown)?;
        return Ok(Spec::ProcrustesCv { folds, out });
    }
    let (base, out) = split_out(s).ok_or(ParseError::Unknown)?;
    use Out::*;
    let spec = match base {
        "nbs" if matches!(out, Score | Squared | Angular | AngularScore) => Spec::Nbs { out },
        "procrustes"
            if matches!(
                out,
                Score | Angular | AngularScore | Euclidean | SqEuclidean
            ) =>
        {
            Spec::Procrustes { out }
        }
        "permutation_metric" if matches!(out, Angular | Euclidean) => {
            Spec::PermutationMetric { out }
        }
        "cca" if matches!(out, Score | Squared | Angular | AngularScore) => Spec::Cca { out },
        "pwcca" if out == Score => Spec::Pwcca,
        b if b.starts_with("shape_metric-alpha=") && matches!(out, Angular | Euclidean) => {
            let a = num(&b["shape_metric-alpha=".len()..], "alpha")?;
            if !(0.0..=1.0).contains(&a) {
                return Err(ParseError::Param(format!(
                    "alpha must be in [0, 1], got {a}"
                )));
            }
            Spec::ShapeMetric { alpha: a, out }
        }
        b if b.starts_with("svcca-var=") && out == Score => {
            let v = num(&b["svcca-var=".len()..], "var")?;
            if !(v > 0.0 && v < 1.0) {
                return Err(ParseError::Param(format!("var must be in (0, 1), got {v}")));
            }
            Spec::Svcca {
                trunc: Trunc::Var(v),
            }
        }
        b if b.starts_with("svcca-dim=") && out == Score => {
            let k: usize = b["svcca-dim=".len()..]
                .parse()
                .map_err(|_| ParseError::Param("dim must be a positive integer".into()))?;
            if k == 0 {
                return Err(ParseError::Param("dim must be ≥ 1".into()));
            }
            Spec::Svcca {
                trunc: Trunc::Dim(k),
            }
        }
        _ => return Err(ParseError::Unknown),
    };
    Ok(spec)
}

fn parse_linreg(s: &str) -> Result<Spec, ParseError> {
    let (head, cv) = s.split_once('#').ok_or(ParseError::Unknown)?;
    let folds = if cv == "no_cv" {
        None
    } else if let Some(k) = cv.strip_suffix("folds_cv") {
        let k: usize = k
            .parse()
            .map_err(|_| ParseError::Param(format!("bad fold count in `#{cv}`")))?;
        if k < 2 {
            return Err(ParseError::Param(
                "cross-validation needs at least 2 folds".into(),
            ));
        }
        Some(k)
    } else {
        return Err(ParseError::Unknown);
    };
    let (head, sym) = match head.strip_suffix("-sym") {
        Some(h) => (h, true),
        None => (head, false),
    };
    let (name, agg) = head.rsplit_once('-').ok_or(ParseError::Unknown)?;
    let agg = match agg {
        "r2" => Agg::R2,
        "pearsonr" => Agg::PearsonR,
        _ => return Err(ParseError::Unknown),
    };
    let lambda = if name == "linreg" {
        0.0
    } else if let Some(l) = name.strip_prefix("ridge-lambda") {
        let l = num(l, "lambda")?;
        if l < 0.0 {
            return Err(ParseError::Param("lambda must be ≥ 0".into()));
        }
        l
    } else {
        return Err(ParseError::Unknown);
    };
    Ok(Spec::LinReg {
        lambda,
        folds,
        agg,
        sym,
    })
}

fn levenshtein(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut cur = vec![i + 1; b.len() + 1];
        for (j, cb) in b.iter().enumerate() {
            cur[j + 1] = (prev[j] + usize::from(ca != *cb))
                .min(prev[j + 1] + 1)
                .min(cur[j] + 1);
        }
        prev = cur;
    }
    prev[b.len()]
}

/// Up to 3 known ids or aliases closest to `raw` (edit distance), plus ids sharing its prefix.
fn suggestions(raw: &str) -> Vec<String> {
    let s = raw.rsplit('/').next().unwrap_or(raw);
    let mut names: Vec<String> = catalogue().iter().map(|m| m.id.clone()).collect();
    names.extend(ALIASES.iter().map(|(a, _)| a.to_string()));
    let mut scored: Vec<(usize, String)> =
        names.into_iter().map(|n| (levenshtein(s, &n), n)).collect();
    scored.sort();
    let limit = (s.chars().count() / 2).max(3);
    scored
        .into_iter()
        .filter(|(d, _)| *d <= limit)
        .take(3)
        .map(|(_, n)| n)
        .collect()
}
