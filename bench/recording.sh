#!/usr/bin/env bash
# recording.sh — what `--record` (every step) adds to a training step.
#
# Each round is one bench_train process that trains MODEL with the recorder
# attached and records every second step (--record-every 2): recorded and
# plain steps alternate in the same process, on the same data, so the
# machine's drifts (other tenants, clock changes, which on this VM move whole
# processes by +-15%) hit both alike. A recorded step pays for everything
# `gradflow train --record` does on a step: the layer and block hooks'
# statistics, the parameter norms and the buffered HDF5 writes and flushes.
# The overhead of a round is median(recorded steps) / median(plain steps) - 1;
# the table gives every round and their median.
#
# usage: bench/recording.sh [-o FILE.md] [--model M] [--input CxHxW] [--batch B]
#                           [--threads T] [--steps S] [--rounds R] [--exe PATH]
#                           [--wait-idle S]
# Defaults: resnet-56, 3x32x32, batch 128, nproc threads, 20 timed steps (10
# of each kind) after 3 warm-up steps, 7 rounds. The bar (issue #4): at most 5%.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
OUT="" MODEL=resnet-56 INPUT=3x32x32 BATCH=128 THREADS=$(nproc) STEPS=20 ROUNDS=7
EXE="" WAIT_IDLE=0
die() { echo "recording.sh: $*" >&2; exit 1; }
while [ $# -gt 0 ]; do
    case $1 in
    -o) OUT=$2; shift ;;
    --model) MODEL=$2; shift ;;
    --input) INPUT=$2; shift ;;
    --batch) BATCH=$2; shift ;;
    --threads) THREADS=$2; shift ;;
    --steps) STEPS=$2; shift ;;
    --rounds) ROUNDS=$2; shift ;;
    --exe) EXE=$2; shift ;;
    --wait-idle) WAIT_IDLE=$2; shift ;;
    -h|--help) sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
    *) die "unknown option '$1' (see --help)" ;;
    esac
    shift
done
[ -n "$EXE" ] || EXE=$(bash "$ROOT/bench/run.sh" --build-only)
[ -x "$EXE" ] || die "no bench_train at $EXE"

WORK=$(mktemp -d "${TMPDIR:-/tmp}/gradflow-recording.XXXXXX")
trap 'rm -rf "$WORK"' EXIT
field() { tr ' ' '\n' <<<"$1" | sed -n "s/^$2=//p"; }

idle() { # wait up to WAIT_IDLE s for < 0.25 busy CPUs over 2 s
    local t0=$SECONDS a b
    while [ $((SECONDS - t0)) -lt "$WAIT_IDLE" ]; do
        a=$(awk '/^cpu /{print $2+$3+$4+$7+$8+$9; exit}' /proc/stat); sleep 2
        b=$(awk '/^cpu /{print $2+$3+$4+$7+$8+$9; exit}' /proc/stat)
        awk -v a="$a" -v b="$b" -v hz="$(getconf CLK_TCK)" \
            'BEGIN { exit !((b - a) / hz / 2 < 0.25) }' && return 0
    done
}

one() { # one round -> its BENCH_RECORD and BENCH lines
    idle
    rm -f "$WORK/run.h5"
    env GF_NUM_THREADS="$THREADS" OMP_NUM_THREADS="$THREADS" "$EXE" --model "$MODEL" \
        --input "$INPUT" --batch "$BATCH" --threads "$THREADS" --steps "$STEPS" --warmup 3 \
        --record "$WORK/run.h5" --record-every 2 2>/dev/null | grep '^BENCH' ||
        die "bench_train failed: $EXE"
}

rows="" all=""
for ((r = 1; r <= ROUNDS; r++)); do
    out=$(one)
    rec=$(grep '^BENCH_RECORD' <<<"$out") main=$(grep '^BENCH ' <<<"$out")
    sq=$(field "$rec" rec_sec_step) sp=$(field "$rec" norec_sec_step)
    ov=$(field "$rec" record_overhead) oc=$(field "$main" others_cpus)
    mark=$(awk -v a="$oc" 'BEGIN { if (a > 0.3) print "*" }')
    pct=$(awk -v o="$ov" 'BEGIN { printf "%+.1f%%", 100 * o }')
    rows+="| $r | $sp | $sq | $pct$mark | $oc |"$'\n'
    all+="$ov"$'\n'
    echo "  round $r: plain $sp s, recorded $sq s: $pct (others' CPUs $oc)" >&2
done
median() { sort -g | awk '{ v[NR] = $1 } END { print NR % 2 ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }
med=$(printf '%s' "$all" | median)
{
    echo "## Recording overhead: $MODEL, $INPUT, batch $BATCH, $THREADS threads"
    echo
    echo "- date: $(date -u '+%Y-%m-%d %H:%M UTC'); machine: $(lscpu | sed -n 's/^Model name: *//p' | head -n1), $(nproc) CPUs"
    echo "- gradflow commit $(git -C "$ROOT" rev-parse --short=12 HEAD 2>/dev/null || echo unknown); bench_train: $EXE"
    echo "- each round: one process, 3 warm-up + $STEPS timed steps, every second one recorded; cells are medians in s/step"
    echo
    echo "| round | plain step (s) | recorded step (s) | overhead | others' CPUs |"
    echo "| ---: | ---: | ---: | ---: | ---: |"
    printf '%s' "$rows"
    echo
    echo "Median overhead over the rounds: $(awk -v o="$med" 'BEGIN { printf "%+.1f%%", 100 * o }') for recording a step."
} | if [ -n "$OUT" ]; then tee "$OUT"; else cat; fi
