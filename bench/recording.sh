#!/usr/bin/env bash
# recording.sh — what `--record` (every step) adds to a training step.
#
# Runs bench_train on the same model, input, batch and threads alternately
# without and with --record RUN.h5 (every step recorded: the recorder's layer
# and block hooks, its parameter norms and its HDF5 writes, as `gradflow train
# --record` does), ROUNDS times each, one process per run, and prints a
# Markdown table: each pair's median step times and their ratio, then the
# overhead from the medians over all rounds. Pairs whose runs had other
# processes keeping more than 0.3 CPU busy are marked "*" (see run.sh).
#
# usage: bench/recording.sh [-o FILE.md] [--model M] [--input CxHxW] [--batch B]
#                           [--threads T] [--steps S] [--rounds R] [--exe PATH]
#                           [--wait-idle S]
# Defaults: resnet-56, 3x32x32, batch 128, nproc threads, 10 timed steps after
# 3 warm-up steps, 5 rounds. The issue's bar (#4): at most 5% on resnet-56.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
OUT="" MODEL=resnet-56 INPUT=3x32x32 BATCH=128 THREADS=$(nproc) STEPS=10 ROUNDS=5
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

one() { # one [--record FILE] -> the BENCH line
    idle
    env GF_NUM_THREADS="$THREADS" OMP_NUM_THREADS="$THREADS" "$EXE" --model "$MODEL" \
        --input "$INPUT" --batch "$BATCH" --threads "$THREADS" --steps "$STEPS" --warmup 3 \
        "$@" 2>/dev/null | grep '^BENCH ' || die "bench_train failed: $EXE $*"
}

rows="" plain_all="" rec_all=""
for ((r = 1; r <= ROUNDS; r++)); do
    p=$(one) && q=$(one --record "$WORK/run.h5")
    rm -f "$WORK/run.h5"
    sp=$(field "$p" sec_step) sq=$(field "$q" sec_step)
    op=$(field "$p" others_cpus) oq=$(field "$q" others_cpus)
    mark=$(awk -v a="$op" -v b="$oq" 'BEGIN { if (a > 0.3 || b > 0.3) print "*" }')
    rows+="| $r | $sp | $sq | $(awk -v a="$sp" -v b="$sq" 'BEGIN { printf "%+.1f%%", 100 * (b / a - 1) }')$mark | $op / $oq |"$'\n'
    plain_all+="$sp"$'\n' rec_all+="$sq"$'\n'
    echo "  round $r: $sp s -> $sq s (others' CPUs $op / $oq)" >&2
done
median() { sort -g | awk '{ v[NR] = $1 } END { print NR % 2 ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }
mp=$(printf '%s' "$plain_all" | median) mq=$(printf '%s' "$rec_all" | median)
{
    echo "## Recording overhead: $MODEL, $INPUT, batch $BATCH, $THREADS threads"
    echo
    echo "- date: $(date -u '+%Y-%m-%d %H:%M UTC'); machine: $(lscpu | sed -n 's/^Model name: *//p' | head -n1), $(nproc) CPUs"
    echo "- gradflow commit $(git -C "$ROOT" rev-parse --short=12 HEAD 2>/dev/null || echo unknown); bench_train: $EXE"
    echo "- each run: 3 warm-up + $STEPS timed steps; a cell is that run's median step in seconds"
    echo
    echo "| round | without --record (s/step) | with --record, every step (s/step) | overhead | others' CPUs |"
    echo "| ---: | ---: | ---: | ---: | ---: |"
    printf '%s' "$rows"
    echo
    echo "Median over the rounds: $mp s/step without, $mq s/step with:" \
        "$(awk -v a="$mp" -v b="$mq" 'BEGIN { printf "%+.1f%%", 100 * (b / a - 1) }') for recording every step."
} | if [ -n "$OUT" ]; then tee "$OUT"; else cat; fi
