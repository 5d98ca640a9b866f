#!/usr/bin/python3
"""The layer-response table of docs/reproduction.md (He et al. 2015, Fig. 7).

usage: bench/responses_table.py RUN.h5...

For each gradflow run file, at its last recorded step: how many 3x3 layers
it measures, the mean, median and largest std of their responses
(`responses/std`, docs/run-file.md), and the mean over the layers named
each block's bn1 and bn2 (in a residual block, bn2 is the branch's last response,
before the addition). Reads the files with h5py only, as a user would.
"""
import sys

import h5py
import numpy as np


def row(path):
    with h5py.File(path, "r") as f:
        std = f["responses/std"][...]
        names = [n.decode() if isinstance(n, bytes) else n
                 for n in f["model/responses/name"][...]]
        steps = f["step"][...] if "step" in f else None
    if std.shape[0] == 0:
        raise SystemExit(f"{path}: no recorded responses")
    last = std[-1]
    # the blocks' layers only: the stem's "bn1" is no block's first response
    bn1 = [v for n, v in zip(names, last) if n.endswith(".bn1")]
    bn2 = [v for n, v in zip(names, last) if n.endswith(".bn2")]
    step = int(steps[-1]) if steps is not None and len(steps) else std.shape[0]
    return (step, len(last), last.mean(), np.median(last),
            np.mean(bn1) if bn1 else float("nan"),
            np.mean(bn2) if bn2 else float("nan"), last.max())


def main(argv):
    if not argv:
        raise SystemExit(__doc__.strip().splitlines()[2])
    print("| run (step) | responses | mean std | median | mean of bn1 | "
          "mean of bn2 | largest |")
    print("| --- | ---: | ---: | ---: | ---: | ---: | ---: |")
    for path in argv:
        step, n, mean, med, b1, b2, top = row(path)
        name = path.rsplit("/", 1)[-1].removesuffix(".h5")
        print(f"| {name} ({step}) | {n} | {mean:.3f} | {med:.3f} | {b1:.3f} | "
              f"{b2:.3f} | {top:.3f} |")


if __name__ == "__main__":
    main(sys.argv[1:])
