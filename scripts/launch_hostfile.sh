#!/usr/bin/env bash
# Run repspace on every host of a hostfile over ssh, one timely process per line.
#   bash scripts/launch_hostfile.sh HOSTFILE CONFIG [WORKERS]
# HOSTFILE: one host:port per line, in process order (the port is timely's, free on that host).
# Every host needs the repspace binary on its PATH (or at REPSPACE_BIN) and the same paths for
# CONFIG and the data (a shared filesystem, or s3:// locations in the config). Process 0
# commits the run. REPSPACE_SSH overrides the ssh command (e.g. a port and a key).
set -euo pipefail
hostfile=${1:?usage: launch_hostfile.sh HOSTFILE CONFIG [WORKERS]}
config=${2:?usage: launch_hostfile.sh HOSTFILE CONFIG [WORKERS]}
workers=${3:-$(nproc)}
run_id="$(date -u +%Y%m%dT%H%M%SZ)-$$"
mapfile -t hosts < <(grep -v '^\s*\(#\|$\)' "$hostfile")
n=${#hosts[@]}
hostfile_abs=$(cd "$(dirname "$hostfile")" && pwd)/$(basename "$hostfile")
pids=()
for p in $(seq $((n - 1)) -1 0); do   # the last processes first: they wait for process 0
  host=${hosts[$p]%%:*}
  ${REPSPACE_SSH:-ssh -o BatchMode=yes} "$host" "${REPSPACE_BIN:-repspace}" run "$config" -w "$workers" -n "$n" -p "$p" \
    -h "$hostfile_abs" --run-id "$run_id" &
  pids+=($!)
done
status=0
for pid in "${pids[@]}"; do wait "$pid" || status=$?; done
echo "run $run_id finished with status $status"
exit "$status"
