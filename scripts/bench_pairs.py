"""Pair-phase benchmark: repspace against a numpy baseline that follows netrep's
per-pair algorithm, measured in the same run on the same machine.

Workload W1: K networks x m stimuli x n units (default 64 x 2000 x 128, f64), all pairs,
shape metric alpha=1 angular (and alpha=0.5 with --alpha 0.5).

    bash scripts/bench.sh pairs [--alpha 0.5] [--workers 2]

The baseline is netrep's LinearMetric fit+score per pair with the per-network work
(centring, whitening) cached, i.e. the best that algorithm can be in numpy:
    fit:   U, _, Vt = svd(Xw.T @ Yw);  Wx = Zx @ U;  Wy = Zy @ Vt.T
    score: A = Xc @ Wx;  B = Yc @ Wy;  arccos(<A,B> / (|A| |B|))
It is timed on a random subset of pairs (all pairs cost the same) and reported as pairs/s.

Also printed, same run: the achieved GFLOP/s of the run counting only the 2·m·n² flops of
each pair's cross product, faer's own GEMM GFLOP/s on this machine (the bench_pair_kernel
example, 1 thread and all threads), and their ratio. With --scaling, the cost per pair for
K = 16, 32, …, up to --scaling-max networks (repspace only).
"""
import re
import subprocess
import argparse
import os
import tempfile
import time

import numpy as np

from benchlib import best_run_seconds, distances


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


def write_zoo(d, k, m, n, alpha, rng, tile_size=None):
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
    with open(os.path.join(d, "config.toml"), "w") as f:
        f.write(
            '[input]\nmanifest = "manifest.csv"\n[output]\nuri = "out"\n'
            + (f"[execution]\ntile_size = {tile_size}\n" if tile_size else "")
            + f'[[metrics]]\nname = "shape"\nkind = "shape"\nalpha = {alpha}\nscore = "angular"\n'
        )
    return xs


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--repspace", required=True)
    p.add_argument("--models", type=int, default=64)
    p.add_argument("--stimuli", type=int, default=2000)
    p.add_argument("--units", type=int, default=128)
    p.add_argument("--alpha", type=float, default=1.0)
    p.add_argument("--workers", type=int, default=2)
    p.add_argument("--baseline-pairs", type=int, default=120)
    p.add_argument("--tile-size", type=int, default=None, help="[execution] tile_size (default: repspace's choice)")
    p.add_argument("--gemm-bench", default=None, help="the bench_pair_kernel example binary (faer's GEMM rate)")
    p.add_argument("--scaling", action="store_true", help="also time K = 16 … --scaling-max networks")
    p.add_argument("--scaling-max", type=int, default=512)
    args = p.parse_args()
    K, m, n = args.models, args.stimuli, args.units
    rng = np.random.default_rng(0)
    with tempfile.TemporaryDirectory() as d:
        xs = write_zoo(d, K, m, n, args.alpha, rng, args.tile_size)
        pairs = K * (K - 1) // 2

        # repspace, whole run (load + prepare + pairs + Parquet), best of 2
        best = best_run_seconds(args.repspace, d, args.workers)
        ours = pairs / best

        # numpy baseline: per-network prep (not timed, cached), then per-pair fit+score
        prepped = []
        for x in xs:
            xc = x - x.mean(0)
            xw, z = whiten(xc, args.alpha)
            prepped.append((xc, z, xw))
        all_pairs = [(i, j) for i in range(K) for j in range(i + 1, K)]
        sel = [all_pairs[k] for k in rng.choice(len(all_pairs), size=min(args.baseline_pairs, pairs), replace=False)]
        t = time.perf_counter()
        ref = {}
        for i, j in sel:
            ref[(i, j)] = netrep_pair(*prepped[i], *prepped[j])
        theirs = len(sel) / (time.perf_counter() - t)

        # the two agree on the pairs both computed
        rows = distances(d)
        got = {(int(a[3:]), int(b[3:])): v for a, b, v in rows}
        assert len(got) == pairs, f"repspace wrote {len(got)} of {pairs} pairs"
        err = max(abs(got[k] - v) for k, v in ref.items())

    threads = os.environ.get("OMP_NUM_THREADS") or os.environ.get("OPENBLAS_NUM_THREADS") or "default"
    print(f"workload: K={K} networks x m={m} stimuli x n={n} units, f64, alpha={args.alpha} angular, {pairs} pairs")
    print(f"repspace  ({args.workers} workers, whole run incl. load + Parquet): {best:8.3f} s  {ours:10.1f} pairs/s")
    print(f"numpy-netrep baseline (per-pair fit+score, BLAS threads={threads}): {theirs:10.1f} pairs/s  ({len(sel)} pairs timed)")
    print(f"ratio repspace / baseline: {ours / theirs:.2f}x   max |difference| on shared pairs: {err:.2e}")
    achieved = pairs * 2.0 * m * n * n / best / 1e9
    print(f"achieved: {achieved:.1f} GFLOP/s (2·m·n² per pair over the whole run)")
    if args.gemm_bench:
        out = subprocess.run([args.gemm_bench], check=True, capture_output=True, text=True).stdout
        rates = {t: float(g) for g, t in re.findall(r"faer GEMM \S+: ([0-9.]+) GFLOP/s \(([^)]+)\)", out)}
        for label, rate in rates.items():
            print(f"faer GEMM ({label}): {rate:.1f} GFLOP/s   run / GEMM: {achieved / rate:.2f}")
    if args.scaling:
        print("scaling (repspace only, whole run): K, pairs, seconds, microseconds per pair")
        k = 16
        while k <= args.scaling_max:
            with tempfile.TemporaryDirectory() as d:
                write_zoo(d, k, m, n, args.alpha, rng)
                secs = best_run_seconds(args.repspace, d, args.workers, repeats=1)
                kp = k * (k - 1) // 2
                print(f"  K={k:4d}  {kp:7d} pairs  {secs:8.2f} s  {1e6 * secs / kp:8.1f} us/pair")
            k *= 2


if __name__ == "__main__":
    main()
