#!/usr/bin/env python3
"""A lab script: score a model layer against two brain areas with simscore, from Python.

It uses only the client generated from the service's OpenAPI document (no hand-written URLs):

    pip install openapi-python-client ruff numpy
    openapi-python-client generate --path openapi/openapi.json --meta setup --output-path /tmp/simscore-client
    pip install /tmp/simscore-client
    SIMSCORE_URL=http://127.0.0.1:8080 SIMSCORE_TOKEN=ssk_... python examples/lab_script.py

(`SIMSCORE_TOKEN` may be left unset against a single-user server on loopback.)

What it does: uploads three representation matrices as .npy (a "model layer", a "brain area" that
shares a low-dimensional signal with it, and an unrelated "control area"), submits a `score` job
(every measure on layer × {area, control}, with a row-permutation test), follows its progress as
server-sent events, then downloads the result table and every artifact into SIMSCORE_OUT (default
./simscore-results) and checks that the numbers make sense. Where the server runs `optimize` jobs,
it then optimises a synthetic dataset to reach a high CKA with the brain area (Cloos et al. 2024),
with the PC-capture analysis, and downloads the optimised array and the plots.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import os
import sys
import time
from pathlib import Path

import httpx
import numpy as np
from simscore_client import AuthenticatedClient, Client
from simscore_client.api.datasets import get_dataset, upload_dataset
from simscore_client.api.jobs import get_job, job_artifact, job_events, submit_job
from simscore_client.api.measures import list_measures
from simscore_client.api.system import version
from simscore_client.models import (
    AdamOptimizer,
    AdamOptimizerKind,
    Analyses,
    ArrayRef,
    Dataset,
    JobStatus,
    JobView,
    OptimizeJobSpec,
    OptimizeSpec,
    Problem,
    ScoreSpec,
    SubmitJob,
    Target,
)
from simscore_client.types import File

MEASURES = ["cka", "procrustes-angular-score", "rsa-rdm=correlation-compare=spearman"]
PERMUTATIONS = 200


def make_client() -> Client | AuthenticatedClient:
    base_url = os.environ.get("SIMSCORE_URL", "http://127.0.0.1:8080")
    token = os.environ.get("SIMSCORE_TOKEN")
    # Event streams stay open while a job runs; the server sends a keep-alive every 15 s.
    timeout = httpx.Timeout(60.0, connect=10.0)
    if token:
        return AuthenticatedClient(base_url=base_url, token=token, timeout=timeout, raise_on_unexpected_status=True)
    return Client(base_url=base_url, timeout=timeout, raise_on_unexpected_status=True)


def expect(parsed, kind):
    """The parsed body of a response, or an exit with the server's problem+json detail."""
    if isinstance(parsed, Problem):
        sys.exit(f"simscore said {parsed.status} {parsed.title}: {parsed.detail}")
    assert isinstance(parsed, kind), f"unexpected response {parsed!r}"
    return parsed


def representations(seed: int = 2) -> dict[str, np.ndarray]:
    """120 stimuli: a model layer (60 units) and an area (40 units) driven by one 5-dimensional
    signal, plus a control area (40 units) of noise. (Seed 0 would put the control in the 2% tail
    of its null distribution: a true but distracting first example.)"""
    rng = np.random.default_rng(seed)
    signal = rng.standard_normal((120, 5))
    layer = signal @ rng.standard_normal((5, 60)) + 0.5 * rng.standard_normal((120, 60))
    area = signal @ rng.standard_normal((5, 40)) + 0.5 * rng.standard_normal((120, 40))
    control = rng.standard_normal((120, 40))
    return {"layer4.npy": layer, "area-IT.npy": area, "control.npy": control.astype(np.float32)}


def upload(client, name: str, matrix: np.ndarray) -> Dataset:
    buf = io.BytesIO()
    np.save(buf, matrix)
    buf.seek(0)
    resp = upload_dataset.sync_detailed(
        client=client,
        body=File(payload=buf, file_name=name, mime_type="application/octet-stream"),
        name=name,
    )
    dataset = expect(resp.parsed, Dataset)
    # 201 for a new dataset, 200 when the same bytes were uploaded before (deduplicated).
    assert resp.status_code in (200, 201), resp.status_code
    assert [list(a.shape) for a in dataset.arrays] == [list(matrix.shape)], dataset.arrays
    return dataset


def follow(client, job_id: str) -> list[tuple[str, dict]]:
    """Prints the job's events as they arrive (server-sent events) until the stream ends with the
    job's final status. The generated `job_events` call reads the whole body at once, so the stream
    is read through the generated client's own httpx client, with the generated request."""
    request = job_events._get_kwargs(id=job_id)
    events: list[tuple[str, dict]] = []
    kind, data = "message", []
    with client.get_httpx_client().stream(request["method"], request["url"]) as resp:
        resp.raise_for_status()
        for line in resp.iter_lines():
            if line.startswith(":"):  # keep-alive comment
                continue
            if line:
                field, _, value = line.partition(":")
                value = value.removeprefix(" ")
                if field == "event":
                    kind = value
                elif field == "data":
                    data.append(value)
                continue
            if data:  # a blank line ends an event
                payload = json.loads("\n".join(data))
                events.append((kind, payload))
                if kind == "progress":
                    bar = "#" * int(30 * payload["progress"])
                    print(f"  [{bar:<30}] {payload['progress']:6.1%} {payload.get('message', '')}", flush=True)
                elif kind == "status":
                    print(f"  status: {payload['status']}", flush=True)
                else:
                    print(f"  {kind}: {payload}", flush=True)
            kind, data = "message", []
    return events


def download_artifacts(client, job: JobView, out: Path) -> dict[str, bytes]:
    files = {}
    for artifact in job.artifacts:
        resp = job_artifact.sync_detailed(id=job.id, name=artifact.name, client=client)
        assert resp.status_code == 200, (artifact.name, resp.status_code)
        body = resp.content
        assert hashlib.sha256(body).hexdigest() == artifact.sha256, f"{artifact.name}: checksum mismatch"
        assert len(body) == artifact.size_bytes
        if artifact.content_type == "image/png":
            assert body.startswith(b"\x89PNG\r\n\x1a\n"), f"{artifact.name} is not a PNG"
        (out / artifact.name).write_bytes(body)
        files[artifact.name] = body
        print(f"  {artifact.name} ({artifact.content_type}, {len(body)} bytes)")
    return files


def main() -> None:
    out = Path(os.environ.get("SIMSCORE_OUT", "simscore-results"))
    out.mkdir(parents=True, exist_ok=True)
    with make_client() as client:
        info = version.sync(client=client)
        print(f"simscore {info.version} ({info.git_sha}), job kinds: {', '.join(info.job_kinds)}")
        catalogue = {name for m in list_measures.sync(client=client) for name in [m.id, *m.aliases]}
        missing = [m for m in MEASURES if m not in catalogue]
        assert not missing, f"measures not in the catalogue: {missing}"

        print("uploading")
        mats = representations()
        ds = {name: upload(client, name, m) for name, m in mats.items()}
        for name, d in ds.items():
            again = expect(get_dataset.sync(id=d.id, client=client), Dataset)
            print(f"  {name}: {d.id} {again.arrays[0].shape} {again.arrays[0].dtype.value} sha256 {d.sha256[:12]}…")

        print("submitting a score job")
        spec = ScoreSpec(
            x=[ArrayRef(dataset=ds["layer4.npy"].id)],
            y=[ArrayRef(dataset=ds["area-IT.npy"].id), ArrayRef(dataset=ds["control.npy"].id)],
            measures=MEASURES,
            permutations=PERMUTATIONS,
            seed=2024,
        )
        job = run_job(client, SubmitJob(kind="score", spec=spec))
        repro = job.reproducibility.to_dict() if hasattr(job.reproducibility, "to_dict") else job.reproducibility
        print(f"  reproducibility: {json.dumps(repro)}")
        assert repro["seed"] == 2024, repro
        input_hashes = json.dumps(repro)
        for d in ds.values():
            assert d.sha256 in input_hashes, f"the reproducibility record lacks input {d.sha256}"

        result = job.result.to_dict() if hasattr(job.result, "to_dict") else job.result
        (out / "result.json").write_text(json.dumps(result, indent=2))
        check_scores(result)

        print("artifacts")
        files = download_artifacts(client, job, out)
        rows = list(csv.DictReader(io.StringIO(files["scores.csv"].decode())))
        assert len(rows) == 2 * len(MEASURES), rows
        assert all(r["value"] and not r["error"] for r in rows), rows

        if "optimize" in info.job_kinds:
            optimize(client, ds["area-IT.npy"], mats["area-IT.npy"].shape, out)
    print(f"done: results in {out}/")


def run_job(client, request: SubmitJob) -> JobView:
    """Submits a job, follows it to the end and returns it (succeeded)."""
    resp = submit_job.sync_detailed(client=client, body=request, idempotency_key=f"lab-script-{time.time_ns()}")
    job = expect(resp.parsed, JobView)
    assert resp.status_code == 202, resp.status_code
    print(f"  {request.kind} job {job.id} ({job.status.value})")
    events = follow(client, job.id)
    statuses = [e["status"] for k, e in events if k == "status"]
    assert statuses[0] == "queued" and statuses[-1] in ("succeeded", "failed", "cancelled"), statuses
    assert any(k == "progress" for k, _ in events), "no progress events arrived"
    job = expect(get_job.sync(id=job.id, client=client), JobView)
    assert job.status == JobStatus.SUCCEEDED, job.error
    return job


def optimize(client, target: Dataset, shape: tuple[int, int], out: Path) -> None:
    """Gradient ascent on a random dataset until its CKA with the target reaches 0.95."""
    print("submitting an optimize job (synthetic data to match area-IT under CKA)")
    spec = OptimizeJobSpec(
        target=Target(dataset=target.id),
        settings=OptimizeSpec(
            measures=["cka"],
            max_iter=1000,
            stop_score=0.95,
            record_every=10,
            snapshot_every=50,
            optimizer=AdamOptimizer(kind=AdamOptimizerKind.ADAM, lr=0.05),
        ),
        analyses=Analyses(pc_capture=True),
        seed=11,
    )
    job = run_job(client, SubmitJob(kind="optimize", spec=spec))
    result = job.result.to_dict() if hasattr(job.result, "to_dict") else job.result
    (out / "optimize-result.json").write_text(json.dumps(result, indent=2))
    run = result["optimization"]
    scores = run["scores"]
    print(f"  CKA {scores[0]:.3f} -> {run['final_score']:.3f} in {run['steps']} steps ({run['stop_reason']})")
    assert run["final_score"] >= 0.95 and run["final_score"] > scores[0] + 0.2, run["final_score"]
    assert len(result["pc_capture"]["score_to_capture"]) > 0

    print("artifacts")
    files = download_artifacts(client, job, out)
    y = np.load(io.BytesIO(files["Y_final.npy"]))
    assert y.shape == shape and np.isfinite(y).all(), y.shape
    plots = [a.name for a in job.artifacts if a.content_type == "image/png"]
    assert len(plots) >= 2, f"expected the score and PC-capture plots, got {plots}"


def check_scores(result: dict) -> None:
    """Layer vs area shares a signal, layer vs control does not: every measure must say so, and
    the permutation test must find the shared signal and not the absent one."""
    assert result["mode"] == "table", result
    related, control = result["scores"][0], result["scores"][1]
    print(f"  {'measure':<40} {'layer~IT':>10} {'layer~ctrl':>11} {'p(IT)':>7} {'p(ctrl)':>8}")
    for r, c in zip(related, control):
        assert r["measure"] == c["measure"]
        pr, pc = r["permutation"]["p_value"], c["permutation"]["p_value"]
        print(f"  {r['measure']:<40} {r['value']:>10.4f} {c['value']:>11.4f} {pr:>7.3f} {pc:>8.3f}")
        assert np.isfinite(r["value"]) and np.isfinite(c["value"])
        assert r["value"] > c["value"], f"{r['measure']}: related {r['value']} <= control {c['value']}"
        assert pr < 0.05, f"{r['measure']}: the shared signal was not significant (p = {pr})"
        assert pc > 0.05, f"{r['measure']}: noise came out significant (p = {pc})"
        assert r["permutation"]["n_permutations"] == PERMUTATIONS
    cka = next(r for r in related if r["measure"] == "cka")["value"]
    assert 0.0 <= cka <= 1.0, cka


if __name__ == "__main__":
    main()
