"""Scale benchmark: K representations of m x n (default 2,000 x 500 x 64), all pairs,
shape alpha=1 angular, against a memory budget (default 2 GB).

    bash scripts/bench.sh memory [--k 2000] [--workers 2] [--budget-gb 2]

Prints the run's wall time, pairs/s, peak resident memory of the repspace process, and
two ratios measured in the same run: peak / budget, and peak / the zoo's size as f64
(what holding every representation once would cost).
"""
import argparse
import os
import resource
import subprocess
import time

import numpy as np


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--repspace", required=True)
    ap.add_argument("--k", type=int, default=2000)
    ap.add_argument("--m", type=int, default=500)
    ap.add_argument("--n", type=int, default=64)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--budget-gb", type=float, default=2.0)
    ap.add_argument("--dir", default="target/bench_memory")
    ap.add_argument("--set-budget", action="store_true", help="also set [execution] memory_budget to the budget")
    args = ap.parse_args()
    work = os.path.abspath(args.dir)
    os.makedirs(os.path.join(work, "acts"), exist_ok=True)
    rng = np.random.default_rng(0)
    rows = ["model_id,layer,uri"]
    for k in range(args.k):
        path = os.path.join(work, "acts", f"net{k:05d}.npy")
        if not os.path.exists(path):
            # a shared low-rank signal plus noise, as trained networks of one data set look
            np.save(path, (rng.standard_normal((args.m, 8)) @ rng.standard_normal((8, args.n))
                           + rng.standard_normal((args.m, args.n))).astype(np.float32))
        rows.append(f"net{k:05d},fc,acts/net{k:05d}.npy")
    with open(os.path.join(work, "manifest.csv"), "w") as f:
        f.write("\n".join(rows) + "\n")
    with open(os.path.join(work, "config.toml"), "w") as f:
        budget = f'memory_budget = "{args.budget_gb}GB"\n' if args.set_budget else ""
        f.write('[input]\nmanifest = "manifest.csv"\n[output]\nuri = "out"\n[execution]\ntile_size = 64\n' + budget +
                '[[metrics]]\nname = "procrustes"\nkind = "shape"\nalpha = 1.0\nscore = "angular"\n')
    subprocess.run(["rm", "-rf", os.path.join(work, "out")], check=True)
    t = time.perf_counter()
    subprocess.run([args.repspace, "run", os.path.join(work, "config.toml"), "-w", str(args.workers), "--quiet"],
                   check=True)
    secs = time.perf_counter() - t
    peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss * 1024  # Linux: KiB
    pairs = args.k * (args.k - 1) // 2
    budget = args.budget_gb * 1e9
    zoo = args.k * args.m * args.n * 8
    print(f"workload: {args.k} representations x {args.m} x {args.n}, {pairs} pairs, {args.workers} workers")
    print(f"repspace: {secs:.1f} s, {pairs / secs:.0f} pairs/s")
    print(f"peak resident memory: {peak / 1e9:.2f} GB")
    print(f"peak / budget ({args.budget_gb:g} GB): {peak / budget:.2f}")
    print(f"peak / zoo size as f64 ({zoo / 1e9:.2f} GB): {peak / zoo:.2f}")


if __name__ == "__main__":
    main()
