"""Pair-phase benchmark: repspace against a numpy baseline that follows netrep's
per-pair algorithm, measured in the same run on the same machine.

Workload W1: K networks x m stimuli x n units (default 64 x 2000 x 128), all pairs, shape
metric, angular, alpha = 1 and alpha = 0.5 (or the --alpha values given), each in f64 and
with precision = "f32".

    bash scripts/bench.sh pairs [--alpha 1.0] [--no-f32] [--scaling [--scaling-max 512]]

The baseline is netrep's LinearMetric fit+score per pair with the per-network work
(centring, whitening) cached, i.e. the best that algorithm can be in numpy:
    fit:   U, _, Vt = svd(Xw.T @ Yw);  Wx = Zx @ U;  Wy = Zy @ Vt.T
    score: A = Xc @ Wx;  B = Yc @ Wy;  arccos(<A,B> / (|A| |B|))
It is timed on a random subset of pairs (all pairs cost the same) and reported as pairs/s.

For repspace: pairs/s of the whole run (load, prepare, pairs, Parquet) and of the pair
phase (the run's own pair_phase_seconds: its busiest worker's time in tiles); the pair
phase's GFLOP/s counting only the 2·m·n² flops of each pair's cross product; faer's own
GEMM GFLOP/s on this machine (the bench_pair_kernel example, 1 thread and all threads)
and the ratio. With --scaling, the cost per pair for K = 16, 32, …, --scaling-max.
"""
import re
import subprocess
import argparse
import os
import tempfile
import time

import numpy as np

from benchlib import best_run, distances


def whiten(xc, alpha):
    """netrep.utils.whiten with preserve_variance=True, eigval_tol=1e-7."""
    if alpha > 1 - 1e-7:
        return xc, np.eye(xc.shape[1])
    lam, v = np.linalg.eigh(xc.T @ xc)
    lam = np.maximum(lam, 1e-7)
    d = alpha + (1 - alpha) * lam ** -0.5
    new_var = np.sum(alpha**2 * lam + 2 * alpha * (1 - alpha) * lam**0.5 + (1 - alpha) ** 2)
    d *= np.sqrt(np.sum(lam) / new_var)
    z = (v * d[None, :]) @ v.T
    return xc @ z, z


def netrep_pair(xc, zx, xw, yc, zy, yw):
    u, _, vt = np.linalg.svd(xw.T @ yw)
    a = xc @ (zx @ u)
    b = yc @ (zy @ vt.T)
    c = np.dot(a.ravel(), b.ravel()) / (np.linalg.norm(a) * np.linalg.norm(b))
    return np.arccos(np.clip(c, -1, 1))


def write_zoo(d, k, m, n, alpha, rng, tile_size=None, precision="f64"):
    """K tanh networks sharing a random input, one .npy each, with manifest and config."""
    xs = []
    base = rng.standard_normal((m, n))
    with open(os.path.join(d, "manifest.csv"), "w") as f:
        f.write("model_id,layer,uri\n")
        for i in range(k):
            x = np.tanh(base @ rng.standard_normal((n, n)) / np.sqrt(n) + 0.3 * rng.standard_normal((m, n)))
            np.save(os.path.join(d, f"net{i:03d}.npy"), x)
            xs.append(x)
            f.write(f"net{i:03d},fc,net{i:03d}.npy\n")
    write_config(d, alpha, tile_size, precision)
    return xs


def write_config(d, alpha, tile_size=None, precision="f64"):
    with open(os.path.join(d, "config.toml"), "w") as f:
        f.write(
            '[input]\nmanifest = "manifest.csv"\n[output]\nuri = "out"\n'
            + (f"[execution]\ntile_size = {tile_size}\n" if tile_size else "")
            + f'[[metrics]]\nname = "shape"\nkind = "shape"\nalpha = {alpha}\nscore = "angular"\n'
            + f'precision = "{precision}"\n'
        )


def baseline(xs, alpha, pairs, rng):
    """netrep's per-pair fit+score in numpy, per-network work cached: (pairs/s, {pair: distance})."""
    prepped = []
    for x in xs:
        xc = x - x.mean(0)
        xw, z = whiten(xc, alpha)
        prepped.append((xc, z, xw))
    k = len(xs)
    all_pairs = [(i, j) for i in range(k) for j in range(i + 1, k)]
    sel = [all_pairs[t] for t in rng.choice(len(all_pairs), size=min(pairs, len(all_pairs)), replace=False)]
    t = time.perf_counter()
    ref = {(i, j): netrep_pair(*prepped[i], *prepped[j]) for i, j in sel}
    return len(sel) / (time.perf_counter() - t), ref


def gemm_rates(gemm_bench):
    """faer's GEMM GFLOP/s on this machine: {"1 thread": r1, "N threads": rN}."""
    if not gemm_bench:
        return {}
    out = subprocess.run([gemm_bench], check=True, capture_output=True, text=True).stdout
    return {t: float(g) for g, t in re.findall(r"faer GEMM \S+: ([0-9.]+) GFLOP/s \(([^)]+)\)", out)}


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--repspace", required=True)
    p.add_argument("--models", type=int, default=64)
    p.add_argument("--stimuli", type=int, default=2000)
    p.add_argument("--units", type=int, default=128)
    p.add_argument("--alpha", type=float, action="append", help="alpha(s) to run (default: 1.0 and 0.5)")
    p.add_argument("--workers", type=int, default=2)
    p.add_argument("--baseline-pairs", type=int, default=120)
    p.add_argument("--tile-size", type=int, default=None, help="[execution] tile_size (default: repspace's choice)")
    p.add_argument("--gemm-bench", default=None, help="the bench_pair_kernel example binary (faer's GEMM rate)")
    p.add_argument("--no-f32", action="store_true", help="skip the precision = \"f32\" runs")
    p.add_argument("--scaling", action="store_true", help="also time K = 16 … --scaling-max networks")
    p.add_argument("--scaling-max", type=int, default=512)
    args = p.parse_args()
    K, m, n = args.models, args.stimuli, args.units
    alphas = args.alpha or [1.0, 0.5]
    rng = np.random.default_rng(0)
    pairs = K * (K - 1) // 2
    flops = 2.0 * m * n * n  # the cross product X_wᵀY_w of one pair
    rates = gemm_rates(args.gemm_bench)
    threads = os.environ.get("OMP_NUM_THREADS") or os.environ.get("OPENBLAS_NUM_THREADS") or "default"
    print(f"workload W1: K={K} networks x m={m} stimuli x n={n} units, angular, all {pairs} pairs, {args.workers} workers")
    for label, rate in rates.items():
        print(f"faer GEMM 1024^3 ({label}): {rate:.1f} GFLOP/s")
    gemm_all = max(rates.values()) if rates else None
    for alpha in alphas:
        with tempfile.TemporaryDirectory() as d:
            xs = write_zoo(d, K, m, n, alpha, rng, args.tile_size)
            theirs, ref = baseline(xs, alpha, args.baseline_pairs, rng)
            print(f"\nalpha={alpha}: numpy-netrep baseline (per-pair fit+score, whitening cached, BLAS threads={threads}): "
                  f"{theirs:.1f} pairs/s ({len(ref)} pairs timed)")
            for precision in ["f64"] + ([] if args.no_f32 else ["f32"]):
                write_config(d, alpha, args.tile_size, precision)
                wall, phase = best_run(args.repspace, d, args.workers)
                got = {(int(a[3:]), int(b[3:])): v for a, b, v in distances(d)}
                assert len(got) == pairs, f"repspace wrote {len(got)} of {pairs} pairs"
                err = max(abs(got[k] - v) for k, v in ref.items())
                gf = pairs * flops / phase / 1e9
                print(f"  repspace {precision}: whole run {wall:.3f} s = {pairs / wall:.1f} pairs/s ({pairs / wall / theirs:.2f}x baseline); "
                      f"pair phase {phase:.3f} s = {pairs / phase:.1f} pairs/s ({pairs / phase / theirs:.2f}x baseline)")
                line = f"    pair phase {gf:.1f} GFLOP/s (2·m·n² per pair)"
                if gemm_all:
                    line += f" = {gf / gemm_all:.2f} of faer GEMM on all threads"
                print(line + f"; max |difference| from the baseline {err:.2e}")
    if args.scaling:
        alpha = alphas[0]
        print(f"\nscaling (repspace f64, alpha={alpha}): K, pairs, whole-run and pair-phase microseconds per pair")
        k = 16
        while k <= args.scaling_max:
            with tempfile.TemporaryDirectory() as d:
                write_zoo(d, k, m, n, alpha, rng)
                wall, phase = best_run(args.repspace, d, args.workers, repeats=1)
                kp = k * (k - 1) // 2
                print(f"  K={k:4d}  {kp:7d} pairs  {wall:8.2f} s  {1e6 * wall / kp:8.1f} us/pair  pair phase {1e6 * phase / kp:8.1f} us/pair")
            k *= 2


if __name__ == "__main__":
    main()
