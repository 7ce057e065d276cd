#!/usr/bin/env python3
"""Williams et al. (2021): nearest neighbours in shape space predict a network's test
accuracy. Leave-one-out k-NN regression of `test_accuracy` from one metric's distances
between the models' representations at one layer, against two chance baselines: the mean of
the other models, and k-NN with the accuracies shuffled (a permutation test).

    PY=$(bash scripts/python_env.sh)
    $PY scripts/analyze_accuracy_knn.py configs/out/demo [--metric procrustes] [--layer logits] [--k 5]

Reads `models` with pandas and `distances` with DuckDB; prints one block per model subset.
"""
import argparse
import sys
from pathlib import Path

import duckdb
import numpy as np
import pandas as pd


def knn_predict(d, y, k):
    """Leave-one-out: mean of y over each row's k nearest other rows."""
    d = d.copy()
    np.fill_diagonal(d, np.inf)
    nearest = np.argsort(d, axis=1, kind="stable")[:, :k]
    return y[nearest].mean(axis=1)


def spearman(a, b):
    ra = pd.Series(a).rank().to_numpy()
    rb = pd.Series(b).rank().to_numpy()
    return float(np.corrcoef(ra, rb)[0, 1])


def analyse(name, ids, dist, acc, k, permutations, rng):
    n = len(ids)
    if n <= k + 1:
        print(f"{name}: {n} models, too few for k={k}")
        return None
    index = {m: i for i, m in enumerate(ids)}
    d = np.full((n, n), np.nan)
    np.fill_diagonal(d, 0.0)
    for a, b, v in dist.itertuples(index=False):
        if a in index and b in index:
            d[index[a], index[b]] = d[index[b], index[a]] = v
    if np.isnan(d).any():
        print(f"{name}: not every pair has a distance; skipped")
        return None
    y = acc.to_numpy(dtype=float)
    pred = knn_predict(d, y, k)
    mae = float(np.abs(pred - y).mean())
    loo_mean = (y.sum() - y) / (n - 1)
    mae_mean = float(np.abs(loo_mean - y).mean())
    null = np.array([np.abs(knn_predict(d, yp, k) - yp).mean() for yp in (rng.permutation(y) for _ in range(permutations))])
    p = float((1 + (null <= mae).sum()) / (1 + permutations))
    rho = spearman(pred, y)
    print(f"{name}: {n} models, k = {k}")
    print(f"  k-NN MAE             {mae:.4f}")
    print(f"  mean-baseline MAE    {mae_mean:.4f}   (ratio {mae / mae_mean:.3f})")
    print(f"  shuffled k-NN MAE    {null.mean():.4f} ± {null.std():.4f}   (permutation p = {p:.4f}, {permutations} shuffles)")
    print(f"  Spearman(pred, true) {rho:.3f}")
    return {"n": n, "mae": mae, "mae_mean": mae_mean, "p": p, "rho": rho}


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("out", type=Path, help="the run's output directory")
    ap.add_argument("--metric", default="procrustes")
    ap.add_argument("--layer", default="logits")
    ap.add_argument("--k", type=int, default=5)
    ap.add_argument("--permutations", type=int, default=2000)
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    models = pd.read_parquet(args.out / "models")
    if "test_accuracy" not in models.columns:
        sys.exit("models has no test_accuracy column (run on a zoo written by `repspace zoo`)")
    models = models[models["layer"] == args.layer].copy()
    models["test_accuracy"] = models["test_accuracy"].astype(float)
    models["epoch"] = models["epoch"].astype(int)
    dist = duckdb.execute(
        f"""select model_a, model_b, distance
            from read_parquet('{args.out / "distances"}/**/*.parquet')
            where metric = ? and layer_a = ? and layer_b = ? and model_a <> model_b""",
        [args.metric, args.layer, args.layer],
    ).df()
    if dist.empty:
        sys.exit(f"no {args.metric} distances at layer {args.layer}")
    print(f"k-NN prediction of test accuracy from {args.metric} distances at layer {args.layer}")
    rng = np.random.default_rng(args.seed)
    results = {}
    last = models["epoch"].max()
    subsets = [("all checkpoints", models), ("trained (epoch > 0)", models[models["epoch"] > 0]),
               (f"final epoch ({last})", models[models["epoch"] == last])]
    for name, sub in subsets:
        sub = sub.sort_values("model_id")
        results[name] = analyse(name, list(sub["model_id"]), dist, sub["test_accuracy"], args.k, args.permutations, rng)
    ok = [r for r in results.values() if r]
    if not ok:
        sys.exit("no subset could be analysed")
    better = sum(r["mae"] < r["mae_mean"] and r["p"] < 0.05 for r in ok)
    print(f"k-NN beats chance (lower MAE than the mean, p < 0.05) in {better} of {len(ok)} subsets")


if __name__ == "__main__":
    main()
