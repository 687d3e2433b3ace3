#!/usr/bin/env bash
# Builds a fuzz target with libFuzzer and runs it for a bounded time, on stable Rust.
#
# cargo-fuzz needs nightly only for sanitizers; the coverage instrumentation libFuzzer
# feeds on comes from stable codegen flags, which this script passes itself (so neither
# cargo-fuzz nor nightly is needed). The explicit --target keeps those flags off build
# scripts and proc macros, which cannot link against libFuzzer.
#
# Usage: rfd-model/fuzz/run.sh [SECONDS] [TARGET] [libFuzzer options...]
#   SECONDS  how long to fuzz (default 30)
#   TARGET   a [[bin]] of this crate (default document)
# New inputs go to corpus/TARGET, crashes to artifacts/TARGET (both ignored by git);
# seeds/TARGET holds the committed starting inputs. A crash exits non-zero; reproduce it
# with: rfd-model/fuzz/run.sh 0 TARGET artifacts/TARGET/crash-...
set -euo pipefail

seconds=${1:-30}
target=${2:-document}
shift $(($# < 2 ? $# : 2))
# Paths given (crash files, corpus directories) are relative to where we were called.
args=()
for arg in "$@"; do
    if [ -e "$arg" ]; then arg=$(realpath "$arg"); fi
    args+=("$arg")
done
set -- ${args[@]+"${args[@]}"}
cd "$(dirname "$0")"

# libfuzzer-sys compiles libFuzzer's C++ sources.
if ! command -v c++ >/dev/null 2>&1; then
    if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
        apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y g++
    else
        echo "a C++ compiler (c++) is needed to build libFuzzer" >&2
        exit 1
    fi
fi

host=$(rustc -vV | sed -n 's/^host: //p')
export RUSTFLAGS="--cfg fuzzing -Cpasses=sancov-module -Cllvm-args=-sanitizer-coverage-level=4 \
-Cllvm-args=-sanitizer-coverage-inline-8bit-counters -Cllvm-args=-sanitizer-coverage-pc-table \
-Cllvm-args=-sanitizer-coverage-trace-compares"
# Its own target directory whatever the environment says: the instrumented build has its
# own flags, and the binary is looked for below.
export CARGO_TARGET_DIR="$PWD/target"
cargo build --release --target "$host" --bin "$target"

binary="target/$host/release/$target"
if [ "$seconds" = 0 ]; then
    # Replay the given inputs (crash files) only.
    exec "$binary" "$@"
fi
mkdir -p "corpus/$target" "artifacts/$target"
exec "$binary" -max_total_time="$seconds" -max_len=16384 -timeout=10 -rss_limit_mb=2048 \
    -print_final_stats=1 -artifact_prefix="artifacts/$target/" "$@" "corpus/$target" "seeds/$target"
