#!/usr/bin/env bash
# Build the release binary and run one benchmark against its baseline, measured in the
# same run:  bash scripts/bench.sh pairs [--alpha 0.5]   |   bash scripts/bench.sh conv
set -euo pipefail
cd "$(dirname "$0")/.."
name="${1:?usage: bash scripts/bench.sh pairs|conv [options]}"
shift
cargo build --release --locked --quiet
PY=$(bash scripts/python_env.sh)
"$PY" "scripts/bench_${name}.py" --repspace target/release/repspace "$@"
