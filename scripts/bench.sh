#!/usr/bin/env bash
# Build the release binary and run one benchmark against its baseline, measured in the
# same run:  bash scripts/bench.sh pairs [--alpha 0.5] [--family lowrank] [--netrep PATH] [--scaling]  |  conv  |  memory [--set-budget]
#   |  incremental [--case small|medium|large|all] (reruns against the first run of the same zoo)
#   |  python --netrep PATH (the Python package against netrep's pairwise_distances)
#   |  measures --netrep PATH (all-pairs RSA and CKA against rsatoolbox and netrep looped over pairs)
set -euo pipefail
cd "$(dirname "$0")/.."
name="${1:?usage: bash scripts/bench.sh pairs|conv|memory|incremental|python|measures [options]}"
shift
cargo build --release --locked --quiet
PY=$(bash scripts/python_env.sh)
extra=()
if [ "$name" = pairs ]; then
  # faer's own GEMM rate on this machine, measured in the same run
  cargo build --release --locked --quiet -p repspace-metrics --example bench_pair_kernel
  extra=(--gemm-bench target/release/examples/bench_pair_kernel)
  # what the real netrep imports, when it is timed too
  case " $* " in *" --netrep"*) "$PY" -m pip install --quiet --disable-pip-version-check scipy scikit-learn tqdm ;; esac
fi
if [ "$name" = python ]; then
  # the package in release, and what netrep imports
  "$PY" -m pip install --quiet --disable-pip-version-check --force-reinstall --no-deps ./python
  "$PY" -m pip install --quiet --disable-pip-version-check scipy scikit-learn tqdm
fi
if [ "$name" = measures ]; then
  # the reference implementations
  "$PY" -m pip install --quiet --disable-pip-version-check rsatoolbox==0.3.2 scipy scikit-learn
fi
"$PY" "scripts/bench_${name}.py" --repspace target/release/repspace "${extra[@]}" "$@"
