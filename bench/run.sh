#!/usr/bin/env bash
# run.sh — gradflow vs PyTorch training speed, in one run on this machine.
#
# For every model (resnet-20 resnet-56 plain-20 plain-56) and input
# (3x32x32 1x28x28) at batch 128 it runs, one process per configuration so
# peak RSS does not mix, and interleaved so both see the same machine:
#   bench_train           gradflow, with the environment as it is
#   bench_train           again with OPENBLAS_CORETYPE unset (only if it is set)
#   torch_bench.py        PyTorch (Debian's python3-torch, /usr/bin/python3)
# and prints a Markdown table: images/s of each, the ratio gradflow / PyTorch
# (> 1: gradflow is faster), GFLOP/s (3 x forward conv+linear FLOPs, see
# bench_train.c) and peak RSS in MiB. The raw BENCH lines follow the table.
#
# usage: bench/run.sh [-o FILE.md] [--steps S] [--warmup W] [--threads T] [--batch B]
#                     [--models "resnet-20 ..."] [--inputs "3x32x32 ..."] [--nhwc]
#                     [--build-dir DIR | --exe PATH] [--wait-idle S] [--retries N]
#                     [--no-install] [--build-only]
#   -o FILE.md     also write the report there (default: stdout only)
#   --steps S      timed steps per configuration (default 10)
#   --warmup W     warm-up steps (default 3)
#   --threads T    threads for gradflow, OpenBLAS and torch (default: nproc)
#   --batch B      batch size (default 128)
#   --nhwc         add a PyTorch column with channels_last (NHWC) tensors
#   --build-dir D  meson build directory (default: $TMPDIR/gradflow-bench-build)
#   --exe PATH     use this bench_train instead of building one (e.g. a copy
#                  kept from an earlier build, to re-measure the same library)
#   --wait-idle S  before each process wait up to S seconds for the machine to
#                  be idle (< 0.25 CPU busy over 2 s; default 0: don't wait)
#   --retries N    re-run a configuration up to N times while other processes
#                  kept more than 0.3 CPU busy during its gradflow or torch run
#   --no-install   fail instead of apt-get installing python3-torch
#   --build-only   build bench_train, print its path and exit (bench/profile.sh)
#
# Each row also reports others_cpus: the CPUs other processes kept busy during
# the timed steps (bench_train/torch_bench read /proc/stat). On a shared
# machine a row with others_cpus well above 0 was slowed by the neighbours;
# the report marks those (over 0.3) with "*".
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
PY=/usr/bin/python3 # Debian's interpreter: python3 on PATH may be a pyenv one
OUT="" STEPS=10 WARMUP=3 THREADS=$(nproc) BATCH=128 NHWC=0 INSTALL=1 BUILD_ONLY=0
WAIT_IDLE=0 RETRIES=0 EXE=""
DISTURBED=0.3 # others_cpus above this marks a measurement as disturbed
MODELS="resnet-20 resnet-56 plain-20 plain-56"
INPUTS="3x32x32 1x28x28"
BUILD=${TMPDIR:-/tmp}/gradflow-bench-build

die() { echo "run.sh: $*" >&2; exit 1; }
while [ $# -gt 0 ]; do
    case $1 in
    -o) OUT=$2; shift ;;
    --steps) STEPS=$2; shift ;;
    --warmup) WARMUP=$2; shift ;;
    --threads) THREADS=$2; shift ;;
    --batch) BATCH=$2; shift ;;
    --models) MODELS=$2; shift ;;
    --inputs) INPUTS=$2; shift ;;
    --nhwc) NHWC=1 ;;
    --build-dir) BUILD=$2; shift ;;
    --exe) EXE=$2; shift ;;
    --wait-idle) WAIT_IDLE=$2; shift ;;
    --retries) RETRIES=$2; shift ;;
    --no-install) INSTALL=0 ;;
    --build-only) BUILD_ONLY=1 ;;
    -h|--help) sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
    *) die "unknown option '$1' (see --help)" ;;
    esac
    shift
done

# ---------------------------------------------------------------- PyTorch
ensure_torch() {
    if "$PY" -c 'import torch' 2>/dev/null; then return; fi
    [ "$INSTALL" = 1 ] || die "$PY cannot import torch; apt-get install python3-torch"
    [ "$(id -u)" = 0 ] || die "$PY cannot import torch and we are not root to install python3-torch"
    echo "run.sh: installing python3-torch (Debian) ..." >&2
    export DEBIAN_FRONTEND=noninteractive
    apt-get install -y python3-torch >&2 ||
        { apt-get update >&2 && apt-get install -y python3-torch >&2; } ||
        die "apt-get install python3-torch failed"
    "$PY" -c 'import torch' || die "python3-torch installed but $PY cannot import torch"
}

# ------------------------------------------------------------------ build
# With `subdir('bench')` in the top-level meson.build, ninja builds
# bench/bench_train; without it, link bench_train.c against libgradflow.a.
build() {
    if [ ! -f "$BUILD/build.ninja" ]; then
        meson setup "$BUILD" "$ROOT" -Dtests=false --buildtype=release >&2
    fi
    ninja -C "$BUILD" >&2
    if grep -q 'bench/bench_train:' "$BUILD/build.ninja" && [ -x "$BUILD/bench/bench_train" ]; then
        BENCH_EXE=$BUILD/bench/bench_train
        return
    fi
    # Link exactly as meson links the gradflow CLI (it uses gradflow_dep too):
    # its LINK_ARGS carry libgradflow.a, BLAS, HDF5, zlib, threads, ...
    BENCH_EXE=$BUILD/bench_train-standalone
    local link
    link=$(sed -n '/^build gradflow: c_LINKER/,/LINK_ARGS/s/^ *LINK_ARGS = //p' "$BUILD/build.ninja")
    [ -n "$link" ] || die "cannot find the gradflow CLI's link line in $BUILD/build.ninja"
    # shellcheck disable=SC2086 # link is a list of arguments
    (cd "$BUILD" && ${CC:-cc} -std=c11 -O2 -Wall -Wextra -D_POSIX_C_SOURCE=200809L \
        -I"$ROOT/include" "$ROOT/bench/bench_train.c" -o "$BENCH_EXE" $link) >&2
}

# ------------------------------------------------------------------- runs
field() { # field LINE KEY -> value of KEY=value in a BENCH line, "-" if absent
    local v
    v=$(tr ' ' '\n' <<<"$1" | sed -n "s/^$2=//p")
    echo "${v:--}"
}

busy_cpus() { # CPUs busy machine-wide over the next 2 s, from /proc/stat
    local a b
    a=$(awk '/^cpu /{print $2+$3+$4+$7+$8+$9; exit}' /proc/stat)
    sleep 2
    b=$(awk '/^cpu /{print $2+$3+$4+$7+$8+$9; exit}' /proc/stat)
    awk -v a="$a" -v b="$b" -v hz="$(getconf CLK_TCK)" 'BEGIN { printf "%.2f", (b - a) / hz / 2 }'
}

wait_idle() { # wait up to WAIT_IDLE seconds for < 0.25 busy CPUs
    [ "$WAIT_IDLE" -gt 0 ] || return 0
    local t0 busy
    t0=$(date +%s)
    while busy=$(busy_cpus); awk -v b="$busy" 'BEGIN { exit !(b >= 0.25) }'; do
        if [ $(($(date +%s) - t0)) -ge "$WAIT_IDLE" ]; then
            echo "  (machine still busy: $busy CPUs after ${WAIT_IDLE}s; running anyway)" >&2
            return 0
        fi
    done
}

run_one() { # run_one LABEL CMD... -> appends "LABEL <BENCH line>" to $RAW
    local label=$1 line
    shift
    wait_idle
    if ! line=$("$@" 2>>"$LOG" | grep '^BENCH '); then
        echo "run.sh: $label failed: $*" >&2
        line="BENCH failed=1 model=$model input=$input"
    fi
    echo "$label $line" >>"$RAW"
    echo "  $label: $(field "$line" sec_step) s/step, $(field "$line" img_s) img/s," \
        "others_cpus $(field "$line" others_cpus)" >&2
}

run_config() { # run_config MODEL INPUT: every implementation, interleaved
    local model=$1 input=$2
    local args=(--model "$model" --input "$input" --batch "$BATCH" --warmup "$WARMUP"
                --steps "$STEPS" --threads "$THREADS")
    local gf=(env GF_NUM_THREADS="$THREADS" OMP_NUM_THREADS="$THREADS" "$BENCH_EXE" "${args[@]}")
    local pt=(env OMP_NUM_THREADS="$THREADS" "$PY" "$ROOT/bench/torch_bench.py" "${args[@]}")
    echo "$model $input" >&2
    run_one gradflow "${gf[@]}"
    [ -z "$CORETYPE_SET" ] || run_one gradflow-nocoretype env -u OPENBLAS_CORETYPE "${gf[@]}"
    run_one torch "${pt[@]}"
    [ "$NHWC" = 0 ] || run_one torch-nhwc "${pt[@]}" --channels-last
}

config_lines() { grep " model=$1 input=$2 " "$RAW" || true; }

disturbed() { # disturbed MODEL INPUT: any of its runs had others_cpus > DISTURBED
    config_lines "$1" "$2" | tr ' ' '\n' | sed -n 's/^others_cpus=//p' |
        awk -v d="$DISTURBED" '$1 + 0 > d { bad = 1 } END { exit !bad }'
}

# ----------------------------------------------------------------- report
get() { # get LABEL MODEL INPUT KEY
    local line
    line=$(grep "^$1 BENCH .* model=$2 input=$3 " "$RAW" | head -n1 || true)
    field "${line#"$1 "}" "$4"
}
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (a+0 > 0 && b+0 > 0) printf "%.2f", a / b; else print "-" }'; }
best() { awk -v b="$BATCH" -v s="$1" 'BEGIN { if (s + 0 > 0) printf "%.2f", b / s; else print "-" }'; }

report_header() {
    local first torchv
    first=$(grep '^gradflow BENCH' "$RAW" | grep -v failed | head -n1 || true)
    torchv=$(grep '^torch BENCH' "$RAW" | grep -v failed | head -n1 || true)
    echo "## gradflow vs PyTorch: training speed"
    echo
    echo "- date: $(date -u '+%Y-%m-%d %H:%M UTC'); $LIBRARY"
    echo "- machine: $(lscpu | sed -n 's/^Model name: *//p' | head -n1), $(nproc) CPUs; $THREADS threads for each (gf_set_num_threads + openblas_set_num_threads / torch.set_num_threads)"
    echo "- OpenBLAS core in use: $(field "${first#gradflow }" blas_core); OPENBLAS_CORETYPE=${OPENBLAS_CORETYPE-<unset>}"
    echo "- PyTorch $(field "${torchv#torch }" torch) (Debian python3-torch), conv backend $(field "${torchv#torch }" conv), layout NCHW"
    echo "- batch $BATCH, $WARMUP warm-up + $STEPS timed SGD steps (lr 0.1, momentum 0.9, wd 1e-4) on one synthetic batch; img/s = batch / median step"
    echo "- GFLOP/s = 3 x forward conv+linear matmul FLOPs per image x img/s (elementwise ops not counted); peak = ru_maxrss of the process in MiB (torch's includes ~230 MiB of Python + libraries)"
    echo "- load average before / after: $LOAD0 / $LOAD1; wall time ${ELAPSED} s; others' CPUs = CPUs other processes kept busy during the timed steps (0 = undisturbed; * marks a row above $DISTURBED)"
    echo
}

report_row() { # report_row MODEL INPUT
    local model=$1 input=$2 g t row mark=""
    disturbed "$model" "$input" && mark="*"
    g=$(get gradflow "$model" "$input" img_s)
    t=$(get torch "$model" "$input" img_s)
    row="| $model | $input | $g | $t | $(ratio "$g" "$t")$mark |"
    if [ -n "$CORETYPE_SET" ]; then
        local u
        u=$(get gradflow-nocoretype "$model" "$input" img_s)
        row+=" $u | $(ratio "$u" "$t") |"
    fi
    if [ "$NHWC" = 1 ]; then
        local n
        n=$(get torch-nhwc "$model" "$input" img_s)
        row+=" $n | $(ratio "$g" "$n") |"
    fi
    row+=" $(get gradflow "$model" "$input" gflop_s) | $(get torch "$model" "$input" gflop_s) |"
    row+=" $(get gradflow "$model" "$input" peak_rss_mb) | $(get torch "$model" "$input" peak_rss_mb) |"
    row+=" $(get gradflow "$model" "$input" others_cpus) / $(get torch "$model" "$input" others_cpus) |"
    echo "$row"
}

report() {
    report_header
    local hdr="| model | input | gradflow img/s | torch img/s | ratio gf/torch |"
    local sep="| --- | --- | ---: | ---: | ---: |" input model
    if [ -n "$CORETYPE_SET" ]; then
        hdr+=" gradflow img/s (CORETYPE unset) | ratio |"; sep+=" ---: | ---: |"
    fi
    if [ "$NHWC" = 1 ]; then hdr+=" torch NHWC img/s | ratio |"; sep+=" ---: | ---: |"; fi
    hdr+=" GFLOP/s gf | GFLOP/s torch | peak MiB gf | peak MiB torch | others' CPUs gf / torch |"
    sep+=" ---: | ---: | ---: | ---: | ---: |"
    printf '%s\n%s\n' "$hdr" "$sep"
    for input in $INPUTS; do
        for model in $MODELS; do report_row "$model" "$input"; done
    done
    echo
    echo "Best step (batch / fastest timed step), the least disturbed estimate on a shared machine:"
    echo
    echo "| model | input | gradflow img/s | torch img/s | ratio gf/torch |"
    echo "| --- | --- | ---: | ---: | ---: |"
    for input in $INPUTS; do
        for model in $MODELS; do
            local gb tb
            gb=$(best "$(get gradflow "$model" "$input" min_sec_step)")
            tb=$(best "$(get torch "$model" "$input" min_sec_step)")
            echo "| $model | $input | $gb | $tb | $(ratio "$gb" "$tb") |"
        done
    done
    echo
    echo "Raw BENCH lines (per-step phase means fwd_ms / bwd_ms / sgd_ms included):"
    echo
    echo '```'
    cat "$RAW"
    echo '```'
}

# ------------------------------------------------------------------- main
if [ "$BUILD_ONLY" = 1 ]; then
    build
    echo "$BENCH_EXE"
    exit 0
fi
ensure_torch
if [ -n "$EXE" ]; then
    [ -x "$EXE" ] || die "--exe $EXE is not an executable"
    BENCH_EXE=$EXE
    LIBRARY="gradflow: prebuilt $(basename "$EXE") (--exe; sources not known to run.sh)"
else
    build
    # Which library was measured, even with uncommitted edits: its commit and a
    # hash of its sources.
    LIBRARY="gradflow commit $(git -C "$ROOT" rev-parse --short=12 HEAD 2>/dev/null || echo unknown)"
    git -C "$ROOT" diff --quiet HEAD -- src include meson.build 2>/dev/null &&
        [ -z "$(git -C "$ROOT" status --porcelain -- src include meson.build 2>/dev/null)" ] ||
        LIBRARY+=" + uncommitted changes"
    LIBRARY+="; sources hash $(cd "$ROOT" && find src include meson.build -type f -print0 |
        sort -z | xargs -0 sha256sum | sha256sum | cut -c1-12) (sha256 of src/, include/, meson.build)"
fi
WORK=$(mktemp -d "${TMPDIR:-/tmp}/gradflow-bench.XXXXXX")
RAW=$WORK/raw.txt LOG=$WORK/stderr.log
: >"$RAW"
CORETYPE_SET=${OPENBLAS_CORETYPE+1}
LOAD0=$(cut -d' ' -f1-3 /proc/loadavg)
T0=$(date +%s)
echo "run.sh: $BENCH_EXE, $THREADS threads, batch $BATCH, $WARMUP+$STEPS steps" >&2
for input in $INPUTS; do
    for model in $MODELS; do run_config "$model" "$input"; done
done
for ((try = 1; try <= RETRIES; try++)); do
    for input in $INPUTS; do
        for model in $MODELS; do
            disturbed "$model" "$input" || continue
            echo "run.sh: retry $try of a disturbed configuration" >&2
            grep -v " model=$model input=$input " "$RAW" >"$RAW.tmp" || true
            mv "$RAW.tmp" "$RAW"
            run_config "$model" "$input"
        done
    done
done
ELAPSED=$(($(date +%s) - T0))
LOAD1=$(cut -d' ' -f1-3 /proc/loadavg)

if [ -n "$OUT" ]; then
    report | tee "$OUT"
else
    report
fi
echo "run.sh: raw results and stderr in $WORK" >&2
