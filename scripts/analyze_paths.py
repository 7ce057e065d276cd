#!/usr/bin/env python3
"""Lange et al. (2022): how a network's path through representation space (input → hidden
layers → logits) depends on its depth and width. Joins `path_summary` with the `models`
metadata in DuckDB and prints mean path length, efficiency (direct distance / path length)
and turning angle by depth and by width, with Spearman correlations and permutation p-values.

    PY=$(bash scripts/python_env.sh)
    $PY scripts/analyze_paths.py configs/out/demo [--path procrustes_path] [--epoch last]
"""
import argparse
import sys
from pathlib import Path

import duckdb
import numpy as np
import pandas as pd


def spearman(a, b):
    ra, rb = pd.Series(a).rank().to_numpy(), pd.Series(b).rank().to_numpy()
    return float(np.corrcoef(ra, rb)[0, 1])


def permutation_p(a, b, rng, n=2000):
    rho = abs(spearman(a, b))
    null = np.array([abs(spearman(rng.permutation(a), b)) for _ in range(n)])
    return float((1 + (null >= rho).sum()) / (1 + n))


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("out", type=Path, help="the run's output directory")
    ap.add_argument("--path", default=None, help="path metric (default: the first by name)")
    ap.add_argument("--epoch", default="last", help="'last', 'all' or an epoch number")
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    con = duckdb.connect()
    con.execute(f"create view path_summary as select * from read_parquet('{args.out / 'path_summary'}/**/*.parquet')")
    con.execute(f"create view models as select * from read_parquet('{args.out / 'models'}/**/*.parquet')")
    metrics = [r[0] for r in con.execute("select distinct metric from path_summary order by 1").fetchall()]
    if not metrics:
        sys.exit("path_summary is empty (the run has no [[paths]])")
    path = args.path or metrics[0]
    if path not in metrics:
        sys.exit(f"no path metric {path!r}; the run has {metrics}")
    df = con.execute(
        """select p.model_id, p.n_layers, p.path_length, p.efficiency, p.mean_turning_angle,
                  cast(m.depth as integer) as depth, cast(m.width as integer) as width,
                  m.activation, cast(m.epoch as integer) as epoch
           from path_summary p
           join (select distinct model_id, depth, width, activation, epoch from models) m using (model_id)
           where p.metric = ?""",
        [path],
    ).df()
    if args.epoch == "last":
        df = df[df["epoch"] == df["epoch"].max()]
    elif args.epoch != "all":
        df = df[df["epoch"] == int(args.epoch)]
    if len(df) < 4:
        sys.exit(f"only {len(df)} models with {path} paths and depth/width metadata")
    print(f"{path}: {len(df)} networks (epoch {args.epoch})")
    pd.set_option("display.width", 120)
    for key in ["depth", "width", "activation"]:
        table = df.groupby(key)[["path_length", "efficiency", "mean_turning_angle"]].agg(["mean", "std"]).round(4)
        print(f"\nby {key}:")
        print(table.to_string())
    rng = np.random.default_rng(args.seed)
    print("\nSpearman correlations (permutation p, 2000 shuffles):")
    for key in ["depth", "width"]:
        for value in ["path_length", "efficiency"]:
            rho = spearman(df[key], df[value])
            p = permutation_p(df[key].to_numpy(), df[value].to_numpy(), rng)
            print(f"  {key:5s} ~ {value:11s}  rho = {rho:+.3f}  p = {p:.4f}")


if __name__ == "__main__":
    main()
