#!/usr/bin/python3
"""The path-length table of docs/reproduction.md (Veit et al. 2016, Fig. 6).

usage: bench/paths_table.py PATHS.h5...

For each file written by `gradflow paths -o`, from `paths/share_by_length`
(share_k = <G[k], dL/dx> / |dL/dx|^2, docs/analysis.md): the number of
blocks L, the length k with the largest share, the mean length
sum_k k share_k / sum_k share_k, the central run of lengths holding 90%
of the total (from the 5% to the 95% point of the cumulative share), and the
share of k = 0
(the shortcuts alone). Reads the files with h5py only.
"""
import sys

import h5py
import numpy as np


def central_run(share, mass):
    """[lo, hi]: the lengths between the (1 - mass)/2 and (1 + mass)/2 points
    of the cumulative share, so the share outside is split evenly."""
    c = np.cumsum(share) / share.sum()
    return int(np.argmax(c >= (1 - mass) / 2)), int(np.argmax(c >= (1 + mass) / 2))


def main(argv):
    if not argv:
        raise SystemExit(__doc__.strip().splitlines()[2])
    print("| file | blocks L | peak k (share) | mean k | k holding 90% of the share | "
          "shortcut-only (k = 0) |")
    print("| --- | ---: | --- | ---: | --- | ---: |")
    for path in argv:
        with h5py.File(path, "r") as f:
            share = f["paths/share_by_length"][...].astype(np.float64)
        k = np.arange(len(share))
        peak = int(share.argmax())
        lo, hi = central_run(share, 0.9)
        name = path.rsplit("/", 1)[-1].removesuffix(".h5")
        print(f"| {name} | {len(share) - 1} | {peak} ({100 * share[peak]:.1f}%) | "
              f"{(k * share).sum() / share.sum():.1f} | {lo}–{hi} | {100 * share[0]:.2f}% |")


if __name__ == "__main__":
    main(sys.argv[1:])
