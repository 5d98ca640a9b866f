#!/usr/bin/python3
"""The path-length table of docs/reproduction.md (Veit et al. 2016, Fig. 6).

usage: bench/paths_table.py PATHS.h5...

For each file written by `gradflow paths -o`, from `paths/share_by_length`
(share_k = <G[k], dL/dx> / |dL/dx|^2, docs/analysis.md): the number of
blocks L, the length k with the largest share, the mean length
sum_k k share_k / sum_k share_k, the central run of lengths holding 90%
of the total (from the 5% to the 95% point of the cumulative share), and the
share of k = 0
(the shortcuts alone); then the same for |G[k]|, the norm of the summed
gradient of the paths of length k, nearest to Veit et al.'s "total gradient
magnitude" of their Fig. 6(c). For files written with --samples, also Veit et al.'s
own measure: C(L,k) times the mean norm of one sampled path's gradient, its
peak and the central run of sampled lengths holding 90% of it. Reads the
files with h5py only.
"""
import math
import sys

import h5py
import numpy as np


def central_run(share, mass):
    """[lo, hi]: the lengths between the (1 - mass)/2 and (1 + mass)/2 points
    of the cumulative share, so the share outside is split evenly."""
    c = np.cumsum(share) / share.sum()
    return int(np.argmax(c >= (1 - mass) / 2)), int(np.argmax(c >= (1 + mass) / 2))


def veit_total(f):
    """Veit et al.'s Fig. 6(c) from `gradflow paths --samples`: per sampled
    length k, C(L,k) times the mean norm of a single path's gradient (no
    cancellation between paths, unlike |G[k]|). None without samples."""
    if "samples/length" not in f:
        return None
    k = f["samples/length"][...].astype(int)
    L = int(f["paths"].attrs["L"])
    count = np.array([math.comb(L, int(j)) for j in k], dtype=np.float64)
    return k, count * f["samples/mean_path_norm"][...].astype(np.float64)


def main(argv):
    if not argv:
        raise SystemExit(__doc__.strip().splitlines()[2])
    print("| file | blocks L | peak k (share) | mean k | k holding 90% of the share | "
          "shortcut-only (k = 0) | peak k of \\|G[k]\\| | k holding 90% of Σ\\|G[k]\\| |")
    print("| --- | ---: | --- | ---: | --- | ---: | ---: | --- |")
    for path in argv:
        with h5py.File(path, "r") as f:
            share = f["paths/share_by_length"][...].astype(np.float64)
            L = int(f["paths"].attrs["L"])
            # |G[k]| = C(L,k) * mean_path_norm: the norm of the summed gradient
            # of all paths of length k (paths of one length may cancel)
            norm = np.array([math.comb(L, j) for j in range(L + 1)], dtype=np.float64)
            norm *= f["paths/mean_path_norm"][...].astype(np.float64)
        k = np.arange(len(share))
        peak = int(share.argmax())
        lo, hi = central_run(share, 0.9)
        nlo, nhi = central_run(norm, 0.9)
        name = path.rsplit("/", 1)[-1].removesuffix(".h5")
        print(f"| {name} | {len(share) - 1} | {peak} ({100 * share[peak]:.1f}%) | "
              f"{(k * share).sum() / share.sum():.1f} | {lo}–{hi} | {100 * share[0]:.2f}% | "
              f"{int(norm.argmax())} | {nlo}–{nhi} |")
    sampled = []
    for path in argv:
        with h5py.File(path, "r") as f:
            v = veit_total(f)
        if v is not None:
            sampled.append((path.rsplit("/", 1)[-1].removesuffix(".h5"), *v))
    if sampled:
        print("\nVeit et al.'s total gradient magnitude per length, C(L,k) x mean single-path"
              " norm (sampled lengths only):\n")
        print("| file | lengths sampled | peak k | lengths holding 90% of the total |")
        print("| --- | --- | ---: | --- |")
        for name, k, total in sampled:
            lo, hi = central_run(total, 0.9)
            print(f"| {name} | {k[0]}–{k[-1]} (every {k[1] - k[0] if len(k) > 1 else 1}) | "
                  f"{k[total.argmax()]} | {k[lo]}–{k[hi]} |")


if __name__ == "__main__":
    main(sys.argv[1:])
