#!/usr/bin/env python3
"""Time diffscore's optimisation loop (torch, CPU, 2 threads) on the targets of the Rust bench
crates/core/benches/optim.rs and print Rust/Python iteration rates.

One iteration is what diffscore's MeasureOptim does per step: score = measure(X, Y) with X cast to
float32 (`torch.Tensor(X)`) and Y = nn.Parameter(torch.randn(X.shape)), loss = -score,
loss.backward(), a NaN check of Y.grad, Adam(lr=0.1).step(). The loop is written here (same
operations, not diffscore's code) so each iteration can be timed; the measures are diffscore's own
`diffscore/analysis/measures.py` (43456c2), loaded with stub `similarity`/`diffscore` modules as in
bench_reference.py, so neurogym and pytorch_lightning are not needed.

Targets: ultrametric (100, 50) from diffscore's dataset/toy.py (seed 0); mante (15, 72, 727) and
hatsopoulos (10, 391, 141) Gaussian with X_ij = g_ij / sqrt(j + 1) from the splitmix64 + Box-Muller
streams 7 and 8 of the Rust bench (bit-identical inputs).

Reported per configuration: the median seconds per iteration over up to --iters iterations (at most
--budget seconds, at least 3 iterations) after one warm-up iteration. Rust numbers come from
criterion's target/criterion/optim_<target>/*/new/{benchmark,estimates}.json, so run the Rust bench
first:

  RAYON_NUM_THREADS=2 cargo bench -p simscore-core --bench optim
  SRC=/tmp/src /tmp/refvenv/bin/python benches/python/bench_optim_reference.py

SRC must hold a diffscore checkout (SRC/diffscore/diffscore/analysis/measures.py).
"""
import argparse
import json
import os
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
TARGETS = {"ultrametric": (100, 50), "mante": (15, 72, 727), "hatsopoulos": (10, 391, 141)}
MEASURES = ["cka", "nbs", "procrustes-angular-score", "ridge-lambda100-r2#5folds_cv"]


def power_law(stream, shape):
    import numpy as np

    n = int(np.prod(shape))
    k = np.arange(n, dtype=np.uint64)

    def splitmix(x):
        z = x + np.uint64(0x9E3779B97F4A7C15)
        z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
        z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
        return z ^ (z >> np.uint64(31))

    base = np.uint64(stream) << np.uint64(40)
    with np.errstate(over="ignore"):
        u1 = ((splitmix(base + np.uint64(2) * k) >> np.uint64(11)).astype(np.float64) + 0.5) / 2.0**53
        u2 = ((splitmix(base + np.uint64(2) * k + np.uint64(1)) >> np.uint64(11)).astype(np.float64) + 0.5) / 2.0**53
    g = np.sqrt(-2.0 * np.log(u1)) * np.cos(2 * np.pi * u2)
    col = (np.arange(n) % shape[-1]) + 1
    return (g / np.sqrt(col)).reshape(shape)


def load_target(name, src):
    import importlib.util
    import numpy as np

    if name == "ultrametric":
        spec = importlib.util.spec_from_file_location("ds_toy", os.path.join(src, "diffscore", "diffscore", "dataset", "toy.py"))
        mod = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(mod)
        X, _ = mod.ultrametric(seed=0)
        return np.asarray(X)
    return power_law({"mante": 7, "hatsopoulos": 8}[name], TARGETS[name])


def load_measures(src):
    import types

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
    return DS


def worker(target, measure, iters, budget):
    import warnings

    warnings.filterwarnings("ignore")
    import numpy as np
    import torch

    torch.set_num_threads(2)
    torch.manual_seed(0)
    src = os.environ.get("SRC", "/tmp/src")
    DS = load_measures(src)
    f = DS[measure]
    X = torch.Tensor(load_target(target, src))
    Y = torch.nn.Parameter(torch.randn(X.shape))
    opt = torch.optim.Adam([Y], lr=0.1)
    resample = False
    times, scores = [], []
    t_start = time.perf_counter()
    for i in range(iters + 1):
        t = time.perf_counter()
        opt.zero_grad()
        Yi = Y + torch.randn_like(Y) * 0.01 if resample else Y
        score = f(X, Yi)
        loss = -score
        loss.backward()
        if torch.isnan(Y.grad).any():
            resample = True
        else:
            opt.step()
        dt = time.perf_counter() - t
        scores.append(float(score))
        if i > 0:
            times.append(dt)
        if i >= 3 and time.perf_counter() - t_start > budget:
            break
    print(json.dumps({"median": float(np.median(times)), "min": float(np.min(times)), "max": float(np.max(times)),
                      "iters": len(times), "first": scores[0], "last": scores[-1]}))


def rust_median(target, measure):
    d = os.path.join(ROOT, "target", "criterion", f"optim_{target}")
    if not os.path.isdir(d):
        return None
    for sub in os.listdir(d):
        b = os.path.join(d, sub, "new", "benchmark.json")
        e = os.path.join(d, sub, "new", "estimates.json")
        if os.path.exists(b) and os.path.exists(e) and json.load(open(b)).get("value_str") == measure:
            return json.load(open(e))["median"]["point_estimate"] / 1e9
    return None


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--targets", default=",".join(TARGETS))
    ap.add_argument("--measures", default=",".join(MEASURES))
    ap.add_argument("--iters", type=int, default=30)
    ap.add_argument("--budget", type=float, default=40.0, help="seconds per configuration")
    ap.add_argument("--worker", nargs=2)
    a = ap.parse_args()
    if a.worker:
        worker(a.worker[0], a.worker[1], a.iters, a.budget)
        return
    env = dict(os.environ, OPENBLAS_NUM_THREADS="1", OMP_NUM_THREADS="2", MKL_NUM_THREADS="2")
    print(f"{'target':12} {'measure':30} {'torch s/it':>11} {'torch it/s':>10} {'rust it/s':>10} {'ratio':>7}")
    for target in a.targets.split(","):
        for measure in a.measures.split(","):
            out = subprocess.run([sys.executable, __file__, "--worker", target, measure, "--iters", str(a.iters),
                                  "--budget", str(a.budget)], env=env, capture_output=True, text=True, timeout=3600)
            try:
                r = json.loads(out.stdout.strip().splitlines()[-1])
            except Exception:
                print(f"# {target} {measure}: failed: {out.stderr.strip()[-400:]}", file=sys.stderr)
                continue
            rust = rust_median(target, measure)
            rust_rate = f"{1 / rust:10.2f}" if rust else f"{'-':>10}"
            ratio = f"{r['median'] / rust:6.1f}x" if rust else f"{'-':>7}"
            print(f"{target:12} {measure:30} {r['median']:11.4f} {1 / r['median']:10.2f} {rust_rate} {ratio}"
                  f"   ({r['iters']} its, {r['first']:.3f} -> {r['last']:.3f})", flush=True)


if __name__ == "__main__":
    main()
