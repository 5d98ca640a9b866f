#!/usr/bin/env bash
# profile.sh — where gradflow's training time goes, for one configuration.
#
# Samples only the timed steps (bench_train --perf-ctl opens perf's control
# FIFO after the warm-up) with `perf record`, then prints perf's flat profile
# (self time by shared object and symbol) and bench_train's per-layer-kind
# times (--layer-times, measured in a separate run without perf).
#
# usage: bench/profile.sh [--model resnet-20] [--input 3x32x32] [--batch 128]
#                         [--warmup 2] [--steps 5] [--threads T] [--out DIR]
#                         [--exe PATH]   (a bench_train to use instead of building)
# Needs perf (linux-perf). libgomp has no symbols: its `pause` spin loops
# (threads waiting at OpenMP barriers) show up as libgomp.so.1 0x1f622-style
# addresses.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
MODEL=resnet-20 INPUT=3x32x32 BATCH=128 WARMUP=2 STEPS=5 THREADS=$(nproc)
OUT=$(mktemp -d "${TMPDIR:-/tmp}/gradflow-profile.XXXXXX") EXE=""
while [ $# -gt 0 ]; do
    case $1 in
    --model) MODEL=$2; shift ;;
    --input) INPUT=$2; shift ;;
    --batch) BATCH=$2; shift ;;
    --warmup) WARMUP=$2; shift ;;
    --steps) STEPS=$2; shift ;;
    --threads) THREADS=$2; shift ;;
    --out) OUT=$2; mkdir -p "$OUT"; shift ;;
    --exe) EXE=$2; shift ;;
    -h|--help) sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
    *) echo "profile.sh: unknown option '$1'" >&2; exit 2 ;;
    esac
    shift
done
command -v perf >/dev/null || { echo "profile.sh: perf not found (apt-get install linux-perf)" >&2; exit 1; }

[ -n "$EXE" ] || EXE=$("$ROOT/bench/run.sh" --build-only)
ARGS=(--model "$MODEL" --input "$INPUT" --batch "$BATCH" --warmup "$WARMUP" --steps "$STEPS"
      --threads "$THREADS")
CTL=$OUT/perf.ctl
rm -f "$CTL" && mkfifo "$CTL"
export GF_NUM_THREADS=$THREADS OMP_NUM_THREADS=$THREADS
echo "== perf record -F 999 -D -1 --control fifo:$CTL -- $EXE ${ARGS[*]} --perf-ctl $CTL"
perf record -q -F 999 -D -1 --control "fifo:$CTL" -o "$OUT/perf.data" -- \
    "$EXE" "${ARGS[@]}" --perf-ctl "$CTL" 2>/dev/null | grep '^BENCH'
echo
echo "== perf report --no-children --sort dso,symbol (self time, timed steps only)"
perf report -i "$OUT/perf.data" --no-children --sort dso,symbol --stdio 2>/dev/null |
    awk '/^ +[0-9.]+%/ && n++ < 30'
echo
echo "== bench_train --layer-times (separate run, without perf)"
"$EXE" "${ARGS[@]}" --layer-times 2>/dev/null
echo
echo "profile.sh: perf.data in $OUT"
