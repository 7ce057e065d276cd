#!/usr/bin/env bash
# Build the release binary and run the pair-phase benchmark (W1 by default).
#   bash scripts/bench_pairs.sh [--alpha 0.5] [--workers 2] ...
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --release --locked --quiet
PY=$(bash scripts/python_env.sh)
"$PY" scripts/bench_pairs.py --repspace target/release/repspace "$@"
