#!/usr/bin/env bash
# The whole test suite: unit, fixture and end-to-end tests of every crate, plus the
# DuckDB/pandas reader check (its Python packages are installed into target/pyenv), then the
# Python package: built from source by pip (maturin, sharing this workspace's target/ and
# its dev profile) into that environment, and its pytest suite.
#   bash scripts/test.sh
set -euo pipefail
cd "$(dirname "$0")/.."
py=$(bash scripts/python_env.sh)
cargo test --workspace --locked
MATURIN_PEP517_ARGS="--profile dev --locked" "$py" -m pip install --quiet --disable-pip-version-check \
  --force-reinstall --no-deps ./python
"$py" -m pytest -q -p no:cacheprovider python/tests
