"""Convolutional shape metric benchmark: repspace against netrep's per-shift refit,
measured in the same run on the same machine.

Workload: K networks of [images, height, width, channels] = [100, 8, 8, 64] (default K=6,
15 pairs), alpha=1 angular, minimum over all 64 circular shifts.

    bash scripts/bench.sh conv [--models 6] [--workers 2]

The baseline is netrep's convolve_metric: for every shift, roll, flatten and refit
LinearMetric(alpha=1) (centre, SVD of XᵀY, transform, score) from scratch.
repspace whitens each network once and forms one GEMM per shift.
"""
import argparse
import os
import tempfile
import time

import numpy as np

from benchlib import best_run_seconds, distances


def linear_metric_alpha1_angular(x, y):
    """netrep LinearMetric(alpha=1).fit(x, y).score(x, y) with zero padding."""
    n = max(x.shape[1], y.shape[1])
    x = np.pad(x, ((0, 0), (0, n - x.shape[1])))
    y = np.pad(y, ((0, 0), (0, n - y.shape[1])))
    x = x - x.mean(0)
    y = y - y.mean(0)
    u, _, vt = np.linalg.svd(x.T @ y)
    a, b = x @ u, y @ vt.T
    return np.arccos(np.clip(np.dot(a.ravel(), b.ravel()) / (np.linalg.norm(a) * np.linalg.norm(b)), -1, 1))


def convolve_metric(ci, cj):
    _, h, w, _ = ci.shape
    best = np.inf
    for a in range(h):
        for b in range(w):
            xs = np.roll(ci, (a - h // 2, b - w // 2), axis=(1, 2)).reshape(-1, ci.shape[-1])
            best = min(best, linear_metric_alpha1_angular(xs, cj.reshape(-1, cj.shape[-1])))
    return best


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--repspace", required=True)
    p.add_argument("--models", type=int, default=6)
    p.add_argument("--images", type=int, default=100)
    p.add_argument("--size", type=int, default=8)
    p.add_argument("--channels", type=int, default=64)
    p.add_argument("--workers", type=int, default=2)
    p.add_argument("--baseline-pairs", type=int, default=3)
    args = p.parse_args()
    K, I, S, C = args.models, args.images, args.size, args.channels
    rng = np.random.default_rng(1)
    base = rng.standard_normal((I, S, S, C))
    with tempfile.TemporaryDirectory() as d:
        cs = []
        with open(os.path.join(d, "manifest.csv"), "w") as f:
            f.write("model_id,layer,uri\n")
            for k in range(K):
                shifted = np.roll(base, (k % S, (2 * k) % S), axis=(1, 2))
                c = np.tanh(shifted @ rng.standard_normal((C, C)) / np.sqrt(C) + 0.5 * rng.standard_normal((I, S, S, C)))
                np.save(os.path.join(d, f"net{k:02d}.npy"), c)
                cs.append(c)
                f.write(f"net{k:02d},conv,net{k:02d}.npy\n")
        with open(os.path.join(d, "config.toml"), "w") as f:
            f.write(
                '[input]\nmanifest = "manifest.csv"\n[output]\nuri = "out"\n'
                '[[metrics]]\nname = "conv"\nkind = "conv_shape"\nalpha = 1.0\nscore = "angular"\n'
            )
        pairs = K * (K - 1) // 2
        best = best_run_seconds(args.repspace, d, args.workers)
        ours = pairs / best

        rows = distances(d, "model_a, model_b, distance, shift_y, shift_x")
        got = {(int(a[3:]), int(b[3:])): (v, sy, sx) for a, b, v, sy, sx in rows}
        assert len(got) == pairs
        all_pairs = sorted(got)
        sel = all_pairs[: args.baseline_pairs]
        t = time.perf_counter()
        ref = {k: convolve_metric(cs[k[0]], cs[k[1]]) for k in sel}
        theirs = len(sel) / (time.perf_counter() - t)
        err = max(abs(got[k][0] - v) for k, v in ref.items())

    print(f"workload: K={K} networks x [{I} images, {S}x{S}, {C} channels], alpha=1 angular, {S*S} shifts, {pairs} pairs")
    print(f"repspace  ({args.workers} workers, whole run incl. load + Parquet): {best:8.3f} s  {ours:8.2f} pairs/s")
    print(f"netrep convolve_metric baseline (per-shift refit, numpy):        {theirs:8.2f} pairs/s  ({len(sel)} pairs timed)")
    print(f"ratio repspace / baseline: {ours / theirs:.1f}x   max |difference| on shared pairs: {err:.2e}")


if __name__ == "__main__":
    main()
