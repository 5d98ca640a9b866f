#!/usr/bin/python3
"""Checks docs/run-file.md against a real run file.

usage: check_run_file.py GRADFLOW_EXE DOCS/run-file.md

Records a short run (resnet-8 on synthetic data, 2 epochs), runs the page's
single ```python example in the run's directory, then checks the claims the
page makes: row counts agree with /step, columns with the model tables,
every dataset has units and a description, the root attributes and every
per-step series the page lists exist, identity + branch are consistent with
the input-gradient norm through the recorded cosine, and the status flags.
Exit status 0 on success, 1 with one line per failed claim otherwise.
Uses only Debian's numpy, h5py and pandas (/usr/bin/python3).
"""
import contextlib
import io
import os
import re
import subprocess
import sys
import tempfile

import h5py
import numpy as np

DATA = "synthetic:N=256,H=12,W=12,TEST=64"
EPOCHS, BATCH, N_TRAIN = 2, 32, 256
STEPS = EPOCHS * (N_TRAIN // BATCH)

failures = []


def claim(ok, message):
    """Records message as a failed claim unless ok."""
    if not ok:
        failures.append(message)
    return ok


def python_block(doc):
    """The page's one ```python block."""
    blocks = re.findall(r"^```python\n(.*?)^```", doc, re.S | re.M)
    if len(blocks) != 1:
        sys.exit(f"check_run_file: expected one ```python block in the page, found {len(blocks)}")
    return blocks[0]


def section(doc, title):
    """The text of the section '## title' up to the next '## '."""
    m = re.search(r"^## " + re.escape(title) + r"\n(.*?)(?=^## |\Z)", doc, re.S | re.M)
    return m.group(1) if m else ""


def first_column_names(text):
    """Backticked names in the first column of a markdown table; a bare name
    after a path in the same cell (`layers/act_mean`, `act_std`) takes its group."""
    names = []
    for line in text.splitlines():
        cells = line.split("|")
        if line.startswith("|") and len(cells) > 2:
            cell = re.findall(r"`([^`]+)`", cells[1])
            group = cell[0].rsplit("/", 1)[0] + "/" if cell and "/" in cell[0] else ""
            names += [c if "/" in c else group + c for c in cell]
    return names


def record_run(exe, tmp):
    cmd = [exe, "train", "--model", "resnet-8", "--data", DATA, "--epochs", str(EPOCHS),
           "--batch", str(BATCH), "--record", "run.h5"]
    try:
        r = subprocess.run(cmd, cwd=tmp, capture_output=True, text=True, timeout=280)
    except (OSError, subprocess.TimeoutExpired) as e:
        sys.exit(f"check_run_file: cannot run {' '.join(cmd)}: {e}")
    if r.returncode != 0:
        sys.exit(f"check_run_file: {' '.join(cmd)} exited {r.returncode}:\n{r.stderr}")


def run_example(code, tmp):
    """Runs the page's example in tmp; returns its variables and output."""
    env, out = {"__name__": "run_file_example"}, io.StringIO()
    cwd = os.getcwd()
    os.chdir(tmp)
    try:
        with contextlib.redirect_stdout(out):
            exec(compile(code, "docs/run-file.md (python example)", "exec"), env)
    except Exception as e:  # the example must run as written
        failures.append(f"the page's example raised {type(e).__name__}: {e}")
    finally:
        os.chdir(cwd)
    return env, out.getvalue()


def check_example(env, f):
    """The example's DataFrames have the run's shape."""
    n = len(f["step"])
    layers, blocks = len(f["model/layers/name"]), len(f["model/blocks/name"])
    for name, shape in [("curve", (n, 3)), ("grad", (n, layers)), ("share", (n, blocks)),
                        ("epochs", (EPOCHS, 4))]:
        v = env.get(name)
        claim(v is not None and v.shape == shape,
              f"example: {name} has shape {getattr(v, 'shape', None)}, expected {shape}")
    if "grad" in env:
        claim(list(env["grad"].columns) == [s.decode() for s in f["model/layers/name"][()]],
              "example: grad's columns are not model/layers/name")


def check_series(f, doc):
    """Rows follow /step, columns follow the model tables, all documented."""
    step = f["step"][()]
    n = len(step)
    claim(n == STEPS and np.array_equal(step, np.arange(1, n + 1)),
          f"step is not 1..{STEPS}: {step}")
    width = {"layers": len(f["model/layers/name"]), "blocks": len(f["model/blocks/name"]),
             "params": len(f["model/params/name"]), "responses": len(f["model/responses/name"])}
    per_step = []
    f.visititems(lambda name, o: per_step.append(name) if isinstance(o, h5py.Dataset)
                 and name.split("/")[0] not in ("model", "epochs", "status") else None)
    documented = set(first_column_names(section(doc, "Per-step series (one row per "
                                                     "recorded step)")))
    for name in per_step:
        d = f[name]
        claim(d.shape[0] == n, f"{name} has {d.shape[0]} rows, step {n}")
        group = name.split("/")[0]
        if group in width:
            claim(d.ndim == 2 and d.shape[1] == width[group],
                  f"{name} has shape {d.shape}, expected [{n}, {width[group]}]")
        claim(name in documented, f"{name} is in the file but not in the page's per-step table")
    for name in documented:
        claim(name in f, f"the page lists per-step series '{name}', the file lacks it")
    claim(len(documented) >= 23, f"the page's per-step table lists only {sorted(documented)}")
    claim(len(per_step) >= 23, f"only {len(per_step)} per-step series: {per_step}")


def check_tables(f):
    nl, nb, np_ = (len(f[g + "/name"]) for g in ("model/layers", "model/blocks", "model/params"))
    for name, shape in [("model/layers/kind", (nl,)), ("model/layers/block", (nl,)),
                        ("model/layers/shape", (nl, 6)), ("model/blocks/kind", (nb,)),
                        ("model/blocks/shape", (nb, 6)), ("model/params/shape", (np_, 5))]:
        claim(f[name].shape == shape, f"{name} has shape {f[name].shape}, expected {shape}")
    names = [s.decode() for s in f["model/layers/name"][()]]
    kinds = [s.decode() for s in f["model/layers/kind"][()]]
    blocks = [s.decode() for s in f["model/blocks/name"][()]]
    claim(set(kinds) <= {"conv", "bn", "relu", "add", "shortcut", "pool", "linear"},
          f"unknown layer kinds {set(kinds)}")
    for b in blocks:  # the sum inside a residual block is '<block>.add'
        claim(f"{b}.add" in names, f"residual block {b} has no layer {b}.add")
    resp = f["model/responses/layer"][()]
    claim(len(resp) == 7 and all(0 <= i < nl for i in resp),
          f"model/responses/layer {resp} (resnet-8 has seven 3x3 convs)")
    claim([s.decode() for s in f["model/responses/name"][()]] == [names[i] for i in resp],
          "model/responses/name does not name the layers model/responses/layer indexes")


def check_attributes(f, doc):
    def visit(name, o):
        if isinstance(o, h5py.Dataset):
            claim("units" in o.attrs and "description" in o.attrs and
                  len(str(o.attrs.get("description", ""))) > 0,
                  f"{name} lacks a 'units' or 'description' attribute")
    f.visititems(visit)
    claim(f.attrs.get("schema") == "gradflow-run", f"schema is {f.attrs.get('schema')!r}")
    claim(f.attrs.get("schema_version") == 1,
          f"schema_version is {f.attrs.get('schema_version')!r}")
    claim(f.attrs.get("model") == "resnet-8" and f.attrs.get("data") == DATA and
          f.attrs.get("shortcut") == "A" and f.attrs.get("depth") == 8,
          "model/data/shortcut/depth attributes do not describe the run")
    for name in first_column_names(section(doc, "Root attributes")):
        claim(name in f.attrs, f"the page lists root attribute '{name}', the file lacks it")


def check_split(f):
    """|dL/dx|² = |id|² + |br|² + 2 cos |id| |br| for residual blocks."""
    kinds = [s.decode() for s in f["model/blocks/kind"][()]]
    idn, br = f["blocks/identity_norm"][()].astype(float), f["blocks/branch_norm"][()]
    cos, inp = f["blocks/cosine"][()].astype(float), f["blocks/input_grad_norm"][()]
    res = np.array([k != "plain" for k in kinds])
    claim(res.all(), f"resnet-8 has non-residual blocks: {kinds}")
    lhs = inp[:, res].astype(float) ** 2
    brr = br[:, res].astype(float)
    rhs = idn[:, res] ** 2 + brr ** 2 + 2 * cos[:, res] * idn[:, res] * brr
    rel = np.abs(lhs - rhs) / np.abs(lhs)
    claim(np.all(np.isfinite(rel)) and rel.max() <= 1e-3,
          f"identity/branch/cosine inconsistent with input_grad_norm: max rel {np.nanmax(rel):.3g}")
    claim(np.all(idn[:, res] > 0) and np.all(br[:, res] > 0), "zero identity or branch norms")


def check_status(f):
    claim(f["status/clean_close"][0] == 1, "status/clean_close is not 1 after a normal end")
    claim(f["status/rows_flushed"][0] == len(f["step"]),
          f"status/rows_flushed {f['status/rows_flushed'][0]} != {len(f['step'])} rows")
    ep = f["epochs/epoch"][()]
    claim(len(ep) == EPOCHS and list(ep) == list(range(1, EPOCHS + 1)),
          f"epochs/epoch is {ep}, expected 1..{EPOCHS}")
    claim(list(f["epochs/step"][()]) == [STEPS // EPOCHS * (i + 1) for i in range(EPOCHS)],
          f"epochs/step is {f['epochs/step'][()]}")
    claim(np.all(np.isnan(f["epochs/val_loss"][()])), "val_loss is not NaN without a split")
    claim(np.all(np.isfinite(f["epochs/test_error"][()])), "test_error is not finite")


def main():
    if len(sys.argv) != 3:
        sys.exit("usage: check_run_file.py GRADFLOW_EXE DOCS/run-file.md")
    exe, page = os.path.abspath(sys.argv[1]), sys.argv[2]
    with open(page, encoding="utf-8") as fh:
        doc = fh.read()
    code = python_block(doc)
    with tempfile.TemporaryDirectory(prefix="gradflow-runfile-") as tmp:
        record_run(exe, tmp)
        env, output = run_example(code, tmp)
        with h5py.File(os.path.join(tmp, "run.h5"), "r", swmr=True) as f:
            check_example(env, f)
            check_series(f, doc)
            check_tables(f)
            check_attributes(f, doc)
            check_split(f)
            check_status(f)
    if failures:
        print(f"check_run_file: {len(failures)} claim(s) of {page} do not hold:")
        for m in failures:
            print("  " + m)
        print("example output:\n" + output)
        return 1
    print(f"check_run_file: the example in {page} runs and its claims hold "
          f"({STEPS} steps, {EPOCHS} epochs)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
