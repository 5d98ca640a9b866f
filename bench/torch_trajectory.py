#!/usr/bin/python3
"""torch_trajectory.py — gradflow and PyTorch trained side by side from the
same initial weights on the same fixed batch, step by step.

PyTorch initialises MODEL (the definition in torch_bench.py, as FORMAT.md
specifies it), saves its state dict with h5py, and gradflow trains from it
(`gradflow train --init`) on the first 128 Fashion-MNIST training images
(a 128-image IDX copy, so every step sees the same batch and no test set is
evaluated), without augmentation, with He et al.'s recipe and lr schedule.
PyTorch then takes the same steps, and so does a control: PyTorch again from
the same weights moved by one float ulp each (numpy.nextafter). Prints the
losses per step and the relative differences gradflow-vs-PyTorch and
control-vs-PyTorch: where the second grows as fast as the first, the
separation is the trajectory's sensitivity, not a difference between the
implementations.

Why: `gradflow verify` proves single steps exact on small nets; this shows
what happens over many steps of a deep one. In a stable run the two stay
together; where training is unstable (resnet-56 at lr 0.1 from the first
step: the loss climbs from 6.6 past 11), float rounding differences of 1e-7
grow step by step and the trajectories separate (docs/reproduction.md).

usage: bench/torch_trajectory.py GRADFLOW_EXE [--model resnet-56] [--steps 40]
                                 [--warmup 0] [--lr 0.1] [--seed 1]
Needs Debian's python3-torch and python3-h5py, and dataset-fashion-mnist.
"""
import argparse
import gzip
import os
import subprocess
import sys
import tempfile

import h5py
import numpy as np
import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import torch_bench as tb  # noqa: E402  (the shared model definition)

FMNIST = "/usr/share/datasets/fashion-mnist/"


def read(name):
    with gzip.open(FMNIST + name) as f:
        return f.read()


def write_idx_subset(d, n):
    """The first n training images and labels, as train and as test set."""
    imgs, labs = read("train-images-idx3-ubyte.gz"), read("train-labels-idx1-ubyte.gz")
    ih = np.frombuffer(imgs[:16], ">i4").copy()
    lh = np.frombuffer(labs[:8], ">i4").copy()
    ih[1] = lh[1] = n
    files = {"images-idx3-ubyte.gz": ih.tobytes() + imgs[16:16 + n * 784],
             "labels-idx1-ubyte.gz": lh.tobytes() + labs[8:8 + n]}
    for prefix in ("train-", "t10k-"):
        for name, data in files.items():
            with gzip.open(os.path.join(d, prefix + name), "wb") as f:
                f.write(data)
    x = np.frombuffer(imgs[16:16 + n * 784], np.uint8).reshape(n, 1, 28, 28)
    y = np.frombuffer(labs[8:8 + n], np.uint8).astype(np.int64)
    x = x.astype(np.float32) / np.float32(255)
    # gradflow's normalisation: mean and population std in double, applied in float
    m = x.astype(np.float64).mean()
    s = np.sqrt(((x.astype(np.float64) - m) ** 2).mean())
    return ((x - np.float32(m)) / np.float32(s)).astype(np.float32), y


def lr_at(step, total, lr, warmup):
    if step < warmup:
        return lr * 0.1
    return lr * (0.1 if step >= 0.5 * total else 1) * (0.1 if step >= 0.75 * total else 1)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("gradflow")
    ap.add_argument("--model", default="resnet-56")
    ap.add_argument("--steps", type=int, default=40)
    ap.add_argument("--warmup", type=int, default=0)
    ap.add_argument("--lr", type=float, default=0.1)
    ap.add_argument("--seed", type=int, default=1)
    a = ap.parse_args()
    torch.set_num_threads(1)
    with tempfile.TemporaryDirectory() as d:
        x, y = write_idx_subset(d, 128)
        fam, n, sc = tb.parse_model(a.model)
        torch.manual_seed(a.seed)
        net = tb.build_model(fam, n, sc, 1)
        net.train()
        init = os.path.join(d, "init.h5")
        with h5py.File(init, "w") as f:
            for k, v in net.state_dict().items():
                if "num_batches_tracked" not in k:
                    f["params/" + k] = v.numpy()
        run = os.path.join(d, "run.h5")
        subprocess.run([a.gradflow, "train", "--model", a.model, "--init", init, "--data",
                        "fashion-mnist:" + d, "--batch", "128", "--steps", str(a.steps),
                        "--warmup", str(a.warmup), "--lr", str(a.lr), "--no-augment",
                        "--threads", "1", "--record", run],
                       check=True, capture_output=True)
        with h5py.File(run, "r") as f:
            gf = f["train/loss"][:]
    control = tb.build_model(fam, n, sc, 1)
    control.load_state_dict(net.state_dict())
    with torch.no_grad():
        for p in control.parameters():
            p.copy_(torch.tensor(np.nextafter(p.numpy(), np.float32(np.inf))))
    control.train()
    nets = [net, control]
    opts = [torch.optim.SGD(m.parameters(), lr=a.lr, momentum=0.9, weight_decay=1e-4) for m in nets]
    xt, yt = torch.tensor(x), torch.tensor(y)
    print(f"{a.model}, same init and batch, lr {a.lr} (warm-up {a.warmup} steps)")
    print(" step      lr        torch     gradflow  gf vs torch  control  ctl vs torch")
    for s in range(a.steps):
        lr = lr_at(s, a.steps, a.lr, a.warmup)
        losses = []
        for m, opt in zip(nets, opts):
            for g in opt.param_groups:
                g["lr"] = lr
            loss = torch.nn.functional.cross_entropy(m(xt), yt)
            opt.zero_grad()
            loss.backward()
            opt.step()
            losses.append(float(loss))
        t, c = losses
        print(f"{s + 1:5d} {lr:7.4f} {t:12.6f} {gf[s]:12.6f}   {abs(t - gf[s]) / abs(t):.1e}"
              f" {c:12.6f}   {abs(t - c) / abs(t):.1e}")


if __name__ == "__main__":
    main()
