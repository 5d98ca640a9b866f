#!/usr/bin/env bash
# test.sh — set up, build, and run the whole test suite: once optimised with
# warnings as errors, once under AddressSanitizer + UndefinedBehaviorSanitizer,
# and the library under valgrind's leak checker.
set -euo pipefail
cd "$(dirname "$0")/.."
GF_SANITIZE=1 bash scripts/setup.sh

echo "== test suite (release, -Werror)"
meson test -C build --print-errorlogs

echo "== test suite (ASan + UBSan)"
export ASAN_OPTIONS=detect_leaks=1:abort_on_error=1
export UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1
meson test -C build-san --print-errorlogs

echo "== valgrind: no leaks in the library"
ref=$(meson introspect build --buildoptions | python3 -c \
  "import json,sys; print([o['value'] for o in json.load(sys.stdin) if o['name']=='reference_dir'][0])")
case "$ref" in /*) ;; *) ref="$PWD/$ref" ;; esac
vg="valgrind --quiet --leak-check=full --show-leak-kinds=definite,indirect --errors-for-leak-kinds=definite,indirect --error-exitcode=3"
$vg ./build/gradflow verify --quiet "$ref/resnet8_B.h5" >/dev/null
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
$vg ./build/gradflow train --model resnet-8 --data synthetic:N=64,TEST=32 --steps 2 --batch 16 \
  -o "$tmp/w.h5" >/dev/null
echo "valgrind: clean"
echo "all test stages passed"
