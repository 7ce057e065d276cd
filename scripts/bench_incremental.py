"""Incremental runs at scale: what a run costs when nothing or little is new, against the
first (full) run of the same zoo, measured back to back in this run.

  bash scripts/bench.sh incremental [--case small|medium|large] [--workers 2]

small:  3,000 representations × 40 stimuli × 8 units (4.5 M pairs): first run, a rerun with
        nothing new, one model added (wall time and peak resident memory of each).
medium: 2,000 × 500 × 64 (2 M pairs): the full run, then ten models added.
large:  20,000 × 100 × 16 (2·10⁸ pairs): the full run (pairs/s, peak memory, bytes on disk
        per row), then one model added.
Then each case compacts its output (`repspace compact`: wall time, files before and after),
and runs again after it: nothing new, one more model added, and (small) one model removed,
which writes back the members of the bundles that held its tiles.

The zoos are trained-network-like: every representation is a shared low-dimensional signal
seen through its own random readout, plus noise, so the shape distances are far from both
0 and π/2. Each case starts from an empty output and keeps its files under --workdir.
"""
import argparse
import glob
import json
import os
import shutil
import subprocess
import time

import numpy as np

CASES = {"small": (3000, 40, 8), "medium": (2000, 500, 64), "large": (20000, 100, 16)}


def write_model(zoo, k, m, n, signal, rng):
    x = signal[:, : min(n, signal.shape[1])] @ rng.standard_normal((min(n, signal.shape[1]), n))
    x += 0.3 * rng.standard_normal((m, n))
    np.save(os.path.join(zoo, "acts", f"m{k:05d}.npy"), x)


def write_zoo(workdir, count, m, n, seed=0):
    zoo = os.path.join(workdir, "zoo")
    os.makedirs(os.path.join(zoo, "acts"), exist_ok=True)
    rng = np.random.default_rng(seed)
    signal = rng.standard_normal((m, 24))
    for k in range(count):
        write_model(zoo, k, m, n, signal, np.random.default_rng(seed * 1_000_003 + k))
    manifest(workdir, count)
    with open(os.path.join(workdir, "config.toml"), "w") as f:
        f.write('[input]\nmanifest = "zoo/manifest.csv"\n[output]\nuri = "out"\n'
                '[[metrics]]\nname = "procrustes"\nkind = "shape"\n')
    return signal


def manifest(workdir, count):
    with open(os.path.join(workdir, "zoo", "manifest.csv"), "w") as f:
        f.write("model_id,layer,uri\n")
        for k in range(count):
            f.write(f"m{k:05d},fc,acts/m{k:05d}.npy\n")


def run(repspace, workdir, workers, run_id):
    t = time.perf_counter()
    subprocess.run([repspace, "run", os.path.join(workdir, "config.toml"), "-w", str(workers), "--quiet",
                    "--run-id", run_id], check=True)
    wall = time.perf_counter() - t
    with open(os.path.join(workdir, "out", "_runs", f"{run_id}.json")) as f:
        record = json.load(f)
    return wall, record


def table_bytes(workdir):
    parts = glob.glob(os.path.join(workdir, "out", "distances", "*.parquet"))
    return sum(os.path.getsize(p) for p in parts), len(parts)


def add_models(workdir, first, count, m, n, signal):
    for k in range(first, first + count):
        write_model(os.path.join(workdir, "zoo"), k, m, n, signal, np.random.default_rng(k))
    manifest(workdir, first + count)


def line(label, wall, record, base=None):
    ratio = f"  {100 * wall / base:6.2f} % of the first run" if base else ""
    print(f"  {label:<28} {wall:8.2f} s  peak {record['peak_rss_bytes'] / 1e6:7.0f} MB  "
          f"computed {record['computed']:>11,}  reused {record['reused']:>11,}{ratio}", flush=True)


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--repspace", required=True)
    p.add_argument("--case", choices=list(CASES) + ["all"], default="small")
    p.add_argument("--workers", type=int, default=2)
    p.add_argument("--workdir", default="target/bench_incremental")
    args = p.parse_args()
    for case in (CASES if args.case == "all" else [args.case]):
        count, m, n = CASES[case]
        workdir = os.path.join(args.workdir, case)
        shutil.rmtree(workdir, ignore_errors=True)
        os.makedirs(workdir)
        t = time.perf_counter()
        signal = write_zoo(workdir, count, m, n)
        pairs = count * (count - 1) // 2
        print(f"{case}: {count:,} representations × {m} × {n}, {pairs:,} pairs, -w {args.workers} "
              f"(zoo written in {time.perf_counter() - t:.1f} s)", flush=True)
        first, rec = run(args.repspace, workdir, args.workers, "first")
        line("first run (all computed)", first, rec)
        size, parts = table_bytes(workdir)
        print(f"  {'':<28} {pairs / first:8.0f} pairs/s  table {size / 1e6:.1f} MB in {parts} parts, "
              f"{size / pairs:.2f} bytes per row", flush=True)
        if case == "small":
            wall, rec = run(args.repspace, workdir, args.workers, "rerun")
            line("rerun, nothing new", wall, rec, first)
        added = 10 if case == "medium" else 1
        add_models(workdir, count, added, m, n, signal)
        wall, rec = run(args.repspace, workdir, args.workers, "added")
        line(f"{added} model(s) added", wall, rec, first)
        compacted(args, workdir, first, count + added, m, n, signal, case == "small")


def compacted(args, workdir, first, count, m, n, signal, remove):
    size, parts = table_bytes(workdir)
    t = time.perf_counter()
    subprocess.run([args.repspace, "compact", os.path.join(workdir, "out"), "--quiet"], check=True)
    wall = time.perf_counter() - t
    after, files = table_bytes(workdir)
    print(f"  {'compact':<28} {wall:8.2f} s  {parts} files ({size / 1e6:.1f} MB) -> {files} files "
          f"({after / 1e6:.1f} MB){'':<9}  {100 * wall / first:6.2f} % of the first run", flush=True)
    wall, rec = run(args.repspace, workdir, args.workers, "compacted-rerun")
    line("after compact: rerun", wall, rec, first)
    add_models(workdir, count, 1, m, n, signal)
    wall, rec = run(args.repspace, workdir, args.workers, "compacted-added")
    line("after compact: 1 model added", wall, rec, first)
    if remove:
        with open(os.path.join(workdir, "zoo", "manifest.csv")) as f:
            rows = f.read().splitlines()
        with open(os.path.join(workdir, "zoo", "manifest.csv"), "w") as f:
            f.write("\n".join(r for r in rows if not r.startswith("m00007,")) + "\n")
        wall, rec = run(args.repspace, workdir, args.workers, "compacted-removed")
        size, files = table_bytes(workdir)
        line("after compact: 1 removed", wall, rec, first)
        print(f"  {'':<28} {len(rec['parts'])} parts written back or added, {len(rec['removed'])} files retired; "
              f"now {files} files ({size / 1e6:.1f} MB)", flush=True)


if __name__ == "__main__":
    main()
