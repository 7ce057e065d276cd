"""repspace from Python against netrep, on workload W1 (K networks x m stimuli x n units,
default 64 x 2000 x 128, a shared 24-dimensional signal through random readouts plus noise:
distances near those of trained zoos), all pairs, in one run:

  bash scripts/bench.sh python --netrep PATH/TO/netrep [--alpha 1.0] [--workers 2]

- netrep: ``netrep.multiset.pairwise_distances(LinearMetric(alpha), traindata)`` from the
  checkout at --netrep (ahwillia/netrep; its own caching of the per-network whitening);
- repspace.pairwise_distances(LinearMetric(alpha), traindata, workers=W) from the installed
  package (built in release by this script: ``pip install ./python``);
- the repspace command line on the same arrays, written as .npy files (whole run and pair
  phase from the run record).
Prints pairs/s of each, the ratios, and the largest difference from netrep's matrix.
"""
import argparse
import json
import os
import subprocess
import sys
import tempfile
import time

import numpy as np


def zoo(k, m, n, seed=0):
    rng = np.random.default_rng(seed)
    signal = rng.standard_normal((m, 24))
    out = []
    for i in range(k):
        r = np.random.default_rng(seed * 1_000_003 + i)
        out.append(signal @ r.standard_normal((24, n)) + 0.3 * r.standard_normal((m, n)))
    return out


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--repspace", required=True, help="the release binary")
    p.add_argument("--netrep", required=True, help="a checkout of ahwillia/netrep")
    p.add_argument("--alpha", type=float, default=1.0)
    p.add_argument("--workers", type=int, default=2)
    p.add_argument("--shape", default="64,2000,128")
    args = p.parse_args()
    k, m, n = (int(v) for v in args.shape.split(","))
    pairs = k * (k - 1) // 2
    data = zoo(k, m, n)
    print(f"W1: {k} networks x {m} stimuli x {n} units, alpha={args.alpha}, angular, {pairs} pairs, "
          f"{args.workers} workers", flush=True)

    sys.path.insert(0, os.path.abspath(args.netrep))
    from netrep.metrics import LinearMetric as NetrepLinear
    from netrep.multiset import pairwise_distances as netrep_pairwise

    t = time.perf_counter()
    D_netrep = netrep_pairwise(NetrepLinear(alpha=args.alpha, score_method="angular"), data, verbose=False)
    D_netrep = D_netrep[0] if isinstance(D_netrep, tuple) else D_netrep
    netrep_s = time.perf_counter() - t
    print(f"  netrep pairwise_distances        {netrep_s:8.2f} s  {pairs / netrep_s:9.1f} pairs/s", flush=True)

    import repspace

    metric = repspace.LinearMetric(alpha=args.alpha, score_method="angular")
    repspace.pairwise_distances(metric, data[:4], workers=args.workers)  # load the module's code
    t = time.perf_counter()
    D = repspace.pairwise_distances(metric, data, workers=args.workers)
    py_s = time.perf_counter() - t
    print(f"  repspace.pairwise_distances      {py_s:8.2f} s  {pairs / py_s:9.1f} pairs/s  "
          f"{netrep_s / py_s:5.1f}x netrep  max |D - netrep| {np.abs(D - D_netrep).max():.1e}", flush=True)

    with tempfile.TemporaryDirectory() as work:
        with open(os.path.join(work, "manifest.csv"), "w") as f:
            f.write("model_id,layer,uri\n")
            for i, x in enumerate(data):
                np.save(os.path.join(work, f"m{i}.npy"), x)
                f.write(f"m{i},fc,m{i}.npy\n")
        with open(os.path.join(work, "config.toml"), "w") as f:
            f.write(f'[input]\nmanifest = "manifest.csv"\n[output]\nuri = "out"\n'
                    f'[[metrics]]\nname = "shape"\nkind = "shape"\nalpha = {args.alpha}\n')
        t = time.perf_counter()
        subprocess.run([args.repspace, "run", os.path.join(work, "config.toml"), "-w", str(args.workers),
                        "--quiet", "--run-id", "bench"], check=True)
        cli_s = time.perf_counter() - t
        record = json.load(open(os.path.join(work, "out", "_runs", "bench.json")))
    phase = record["pair_phase_seconds"]
    print(f"  repspace run (command line)      {cli_s:8.2f} s  {pairs / cli_s:9.1f} pairs/s  "
          f"{netrep_s / cli_s:5.1f}x netrep  (pair phase {pairs / phase:.1f} pairs/s)", flush=True)
    print(f"  Python / command line (whole run): {cli_s / py_s:.2f}", flush=True)


if __name__ == "__main__":
    main()
