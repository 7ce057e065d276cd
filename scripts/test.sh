#!/usr/bin/env bash
# The whole test suite: unit, fixture and end-to-end tests of every crate, plus the
# DuckDB/pandas reader check (its Python packages are installed into target/pyenv).
#   bash scripts/test.sh
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/python_env.sh >/dev/null
cargo test --workspace --locked
