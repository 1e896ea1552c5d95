#!/usr/bin/env python3
"""Time the fastest Python reference of each benchmarked measure on the *same inputs* as the Rust
criterion bench (crates/core/benches/measures.rs) and print Rust/Python ratios.

Inputs: X = Z A + E, Y = Z B + F with a 50-d latent, from the counter-based splitmix64 + Box–Muller
stream shared with the Rust bench (bit-identical matrices).

Each backend runs in its own process with 2 threads (numpy/OpenBLAS or torch/MKL, never both in one
process; see shared/specs/measures.md §3). Reported: the median of R calls (R = 5, 3 when a call
exceeds 5 s, 1 above 30 s), first call included. Rust numbers are read from criterion's
target/criterion/<group>/<name>/<id>/new/estimates.json (median), so run the Rust bench first:

  RAYON_NUM_THREADS=2 cargo bench -p simscore-core --bench measures
  SRC=/tmp/src /tmp/refvenv/bin/python benches/python/bench_reference.py [--sizes A,B,C]

References (same as the fixture generator: similarity-repository 035b3be, diffscore 43456c2, netrep
0186b8a, rsatoolbox 0.3.2, scikit-learn):
  linear_cka         numpy  representation_similarity.feature_space_linear_cka (Kornblith)
                     numpy  nn_similarity_index SimIndex.cka (n×n Gram)    torch diffscore cka
  angular_procrustes torch  diffscore procrustes-angular                   numpy netrep LinearMetric
  nbs                torch  diffscore nbs                                  numpy nn_similarity_index nbs
  cca                numpy  svcca cca_core.get_cca_similarity (google)     numpy sim_metric mean_cca_corr
  rsa_spearman       numpy  rsatoolbox calc_rdm(correlation) + compare(spearman)
  ridge_cv           torch  diffscore ridge-lambda100-r2#5folds_cv         numpy deepdive Ridge(1) KFold(5)
  neuroai_ridgecv    numpy  neuroaimetrics LinearPredictivity (RidgeCV, 17 alphas)
"""
import argparse
import json
import os
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
SIZES = {"A": (1000, 500), "B": (5000, 1000), "C": (200, 2000)}
RUST_IDS = {
    "linear_cka": "cka",
    "angular_procrustes": "procrustes-distance=angular",
    "nbs": "nbs",
    "cca": "cca-score",
    "rsa_spearman": "rsa-rdm=correlation-compare=spearman",
    "ridge_cv": "ridge-lambda100-r2#5folds_cv",
    "neuroai_ridgecv": "ridge-pearsonr-cv=5folds",
}


def inputs(n, p1, p2):
    import numpy as np

    def gaussian(stream, n, p):
        k = np.arange(n * p, dtype=np.uint64)

        def splitmix(x):
            z = x + np.uint64(0x9E3779B97F4A7C15)
            z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
            z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
            return z ^ (z >> np.uint64(31))

        base = np.uint64(stream) << np.uint64(40)
        with np.errstate(over="ignore"):
            u1 = ((splitmix(base + np.uint64(2) * k) >> np.uint64(11)).astype(np.float64) + 0.5) / 2.0**53
            u2 = ((splitmix(base + np.uint64(2) * k + np.uint64(1)) >> np.uint64(11)).astype(np.float64) + 0.5) / 2.0**53
        return (np.sqrt(-2.0 * np.log(u1)) * np.cos(2 * np.pi * u2)).reshape(n, p)

    z = gaussian(1, n, 50)
    x = z @ gaussian(2, 50, p1) + gaussian(4, n, p1)
    y = z @ gaussian(3, 50, p2) + gaussian(5, n, p2)
    return x, y


def worker(backend, family, size):
    """Runs in a subprocess: time one reference, print JSON."""
    import importlib.util
    import types
    import warnings

    warnings.filterwarnings("ignore")
    import numpy as np

    src = os.environ.get("SRC", "/tmp/src")
    reg = os.path.join(src, "similarity-repository", "similarity", "registry")

    def load(name, path):
        spec = importlib.util.spec_from_file_location(name, path)
        mod = importlib.util.module_from_spec(spec)
        sys.modules[name] = mod
        spec.loader.exec_module(mod)
        return mod

    n, p = SIZES[size]
    X, Y = inputs(n, p, p)
    fn, label = None, None
    if backend == "torch":
        import torch

        torch.set_num_threads(2)
        DS = {}
        stub_sim, stub_ds = types.ModuleType("similarity"), types.ModuleType("diffscore")

        def _register(name, f=None):
            if f is None:
                return lambda g: (DS.__setitem__(name.split("/", 1)[1], g), g)[1]
            DS[name.split("/", 1)[1]] = f

        stub_ds.register, stub_ds.make = _register, (lambda name: DS[name.split("/", 1)[1]])
        sys.modules["similarity"], sys.modules["diffscore"] = stub_sim, stub_ds
        code = open(os.path.join(src, "diffscore", "diffscore", "analysis", "measures.py")).read()
        code = code.split('if __name__ == "__main__":')[0]
        mod = types.ModuleType("ds_measures")
        exec(compile(code, "measures.py", "exec"), mod.__dict__)
        tX, tY = torch.as_tensor(X), torch.as_tensor(Y)
        name = {"linear_cka": "cka", "angular_procrustes": "procrustes-angular", "nbs": "nbs",
                "ridge_cv": "ridge-lambda100-r2#5folds_cv"}.get(family)
        if name:
            fn, label = (lambda: DS[name](tX, tY)), f"diffscore {name}"
    elif backend == "numpy":
        if family == "linear_cka":
            ks = load("ks", os.path.join(reg, "representation_similarity", "demo.py"))
            fn, label = (lambda: ks.feature_space_linear_cka(X, Y)), "representation_similarity feature_space_linear_cka"
        elif family == "angular_procrustes":
            import netrep.metrics as nm
            fn, label = (lambda: nm.LinearMetric(alpha=1.0).fit_score(X, Y)), "netrep LinearMetric(alpha=1)"
        elif family == "nbs":
            si = load("si", os.path.join(reg, "nn_similarity_index", "sim_indices.py")).SimIndex()
            fn, label = (lambda: si.nbs(X @ X.T, Y @ Y.T)), "nn_similarity_index SimIndex.nbs"
        elif family == "cca":
            cc = load("cc", os.path.join(reg, "svcca", "cca_core.py"))
            fn, label = (lambda: np.mean(cc.get_cca_similarity(X.T, Y.T, epsilon=0.0, verbose=False)["cca_coef1"])), "svcca cca_core (google)"
        elif family == "rsa_spearman":
            import rsatoolbox

            def f():
                r1 = rsatoolbox.rdm.calc_rdm(rsatoolbox.data.Dataset(X), method="correlation")
                r2 = rsatoolbox.rdm.calc_rdm(rsatoolbox.data.Dataset(Y), method="correlation")
                return rsatoolbox.rdm.compare(r1, r2, method="spearman")[0][0]
            fn, label = f, "rsatoolbox correlation RDM + spearman"
        elif family == "ridge_cv":
            dd = load("dd", os.path.join(reg, "deepdive", "mapping_methods.py"))
            fn, label = (lambda: np.mean(dd.neural_regression(X, Y, regression=dd.Ridge(alpha=1.0), cv_splits=5, score_type="r2"))), "deepdive Ridge(1) KFold(5)"
        elif family == "neuroai_ridgecv":
            na = load("na", os.path.join(reg, "neuroaimetrics", "metrics.py"))
            fn, label = (lambda: np.mean(na.LinearPredictivity(X, Y))), "neuroaimetrics LinearPredictivity"
    if fn is None:
        print(json.dumps(None))
        return
    times = []
    reps = 5
    while len(times) < reps:
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
        if times[0] > 30:
            reps = 1
        elif times[0] > 5:
            reps = 3
    print(json.dumps({"label": label, "median": float(np.median(times)), "reps": len(times)}))


def rust_median(size, family):
    d = os.path.join(ROOT, "target", "criterion", f"size_{size}", family)
    if not os.path.isdir(d):
        return None
    for sub in os.listdir(d):
        f = os.path.join(d, sub, "new", "estimates.json")
        if os.path.exists(f):
            return json.load(open(f))["median"]["point_estimate"] / 1e9
    return None


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--sizes", default="A,B,C")
    ap.add_argument("--families", default=",".join(RUST_IDS))
    ap.add_argument("--worker", nargs=3)
    a = ap.parse_args()
    if a.worker:
        worker(*a.worker)
        return
    env = dict(os.environ)
    rows = []
    for size in a.sizes.split(","):
        for family in a.families.split(","):
            best = None
            for backend in ("numpy", "torch"):
                e = dict(env)
                if backend == "numpy":
                    e.update(OPENBLAS_NUM_THREADS="2", OMP_NUM_THREADS="2", MKL_NUM_THREADS="2")
                else:
                    e.update(OPENBLAS_NUM_THREADS="1", OMP_NUM_THREADS="2", MKL_NUM_THREADS="2")
                out = subprocess.run([sys.executable, __file__, "--worker", backend, family, size],
                                     env=e, capture_output=True, text=True, timeout=1800)
                try:
                    r = json.loads(out.stdout.strip().splitlines()[-1])
                except Exception:
                    r = None
                    print(f"# {size} {family} {backend}: failed: {out.stderr.strip()[-300:]}", file=sys.stderr)
                if r:
                    r["backend"] = backend
                    print(f"# {size} {family:18} {backend:5} {r['median']:.4g} s  ({r['label']}, {r['reps']}x)", flush=True)
                    if best is None or r["median"] < best["median"]:
                        best = r
            rust = rust_median(size, family)
            rows.append((size, family, rust, best))
    print()
    print(f"{'size':4} {'family':18} {'rust (s)':>10} {'fastest python (s)':>18} {'speed-up':>9}  reference")
    for size, family, rust, best in rows:
        if best is None:
            continue
        rs = f"{rust:.4g}" if rust else "n/a"
        ratio = f"{best['median'] / rust:.1f}x" if rust else "n/a"
        print(f"{size:4} {family:18} {rs:>10} {best['median']:>18.4g} {ratio:>9}  {best['backend']}: {best['label']}")


if __name__ == "__main__":
    main()
