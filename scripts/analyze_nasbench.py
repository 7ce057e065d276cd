"""Does shape distance over a NAS-Bench-101 zoo track the cells' operation composition and
their accuracy? Reads a run's tables (pandas + DuckDB) over configs/zoo_nasbench.toml's zoo
(run by configs/nasbench.toml, and configs/nasbench_conv.toml on a subset).

    PY=$(bash scripts/python_env.sh)
    $PY scripts/analyze_nasbench.py subset configs/out/zoo_nasbench 200   # the conv_shape subset's manifest
    $PY scripts/analyze_nasbench.py analyze configs/out/nasbench [configs/out/nasbench_conv ...]

`subset ZOO N` writes ZOO/manifest_subset.csv: the `stack1` rows of the first N cells by
model_id (the cells are a seeded random sample, so the first N are a random subset).

`analyze OUT...` takes, for each (metric, layer) of each run, the distance matrix over the
final-epoch networks and reports:

- rho_ops: Spearman rho between a pair's distance and the L1 difference of the two cells'
  operation counts (conv3x3, conv1x1, maxpool3x3), with a Mantel p (cells shuffled);
- rho_acc: Spearman rho between a pair's distance and |difference of test accuracy|, with a
  Mantel p;
- knn_acc: Spearman rho between each network's test accuracy and the mean test accuracy of
  its k nearest networks (leave-one-out), with a permutation p (accuracies shuffled);
- same_op_knn: how often a network's nearest neighbour has its dominant operation (the most
  frequent of the three; ties broken towards conv3x3, conv1x1, maxpool3x3), against the rate
  with shuffled labels.

p = (1 + #null >= observed) / (1 + permutations).
"""

import argparse
import os
import sys

import duckdb
import numpy as np
import pandas as pd

OPS = ["conv3x3", "conv1x1", "maxpool3x3"]


def subset(zoo, n):
    manifest = pd.read_csv(os.path.join(zoo, "manifest.csv"))
    keep = sorted(manifest.model_id.unique())[:n]
    rows = manifest[manifest.model_id.isin(keep) & (manifest.layer == "stack1")]
    path = os.path.join(zoo, "manifest_subset.csv")
    rows.to_csv(path, index=False)
    print(f"{path}: {len(rows)} rows ({len(keep)} cells, layer stack1)")


def load(out):
    models = duckdb.sql(f"select * from read_parquet('{out}/models/**/*.parquet')").df()
    distances = duckdb.sql(
        f"""select metric, model_a, layer_a, model_b, distance
            from read_parquet('{out}/distances/**/*.parquet')
            where layer_a = layer_b and model_a <> model_b"""
    ).df()
    return models, distances


def ranks(x):
    return pd.Series(x).rank().to_numpy()


def pearson(a, b):
    a, b = a - a.mean(), b - b.mean()
    return float(a @ b / np.sqrt((a @ a) * (b @ b)))


def permutation_p(observed, null):
    return (1 + sum(v >= observed for v in null)) / (1 + len(null))


def matrix(rows, ids):
    index = {m: i for i, m in enumerate(ids)}
    d = np.full((len(ids), len(ids)), np.nan)
    np.fill_diagonal(d, 0.0)
    a = rows.model_a.map(index).to_numpy()
    b = rows.model_b.map(index).to_numpy()
    ok = ~(np.isnan(a.astype(float)) | np.isnan(b.astype(float)))
    a, b, v = a[ok].astype(int), b[ok].astype(int), rows.distance.to_numpy()[ok]
    d[a, b] = v
    d[b, a] = v
    return d


def mantel(d_ranks, feature, pair_feature, shuffles, iu):
    """Spearman rho of distance against pair_feature(feature) over the pairs, and its Mantel p."""
    rho = pearson(d_ranks, ranks(pair_feature(feature)[iu]))
    null = [pearson(d_ranks, ranks(pair_feature(feature[p])[iu])) for p in shuffles]
    return rho, permutation_p(rho, null)


def knn_mean(d, values, k):
    order = np.argsort(d + np.diag(np.full(len(d), np.inf)), axis=1, kind="stable")[:, :k]
    return values[order].mean(axis=1)


def analyze(outs, permutations, k, seed):
    rng = np.random.default_rng(seed)
    results = []
    for out in outs:
        models, distances = load(out)
        missing = [c for c in OPS + ["test_accuracy", "epoch"] if c not in models.columns]
        if missing:
            sys.exit(f"{out}: the models table has no {', '.join(missing)} (not a NAS-Bench-101 zoo run?)")
        nets = models.drop_duplicates("model_id").copy()
        nets["epoch"] = nets.epoch.astype(int)
        nets = nets[nets.epoch == nets.epoch.max()].sort_values("model_id")
        for metric in sorted(distances.metric.unique()):
            for layer in sorted(distances[distances.metric == metric].layer_a.unique()):
                rows = distances[(distances.metric == metric) & (distances.layer_a == layer)]
                present = sorted(set(rows.model_a) | set(rows.model_b))
                cells = nets[nets.model_id.isin(present)]
                ids = list(cells.model_id)
                d = matrix(rows, ids)
                if np.isnan(d).any():
                    print(f"{out}: {metric}@{layer}: not every pair has a distance; skipped")
                    continue
                n = len(ids)
                iu = np.triu_indices(n, 1)
                ops = cells[OPS].astype(float).to_numpy()
                acc = cells.test_accuracy.astype(float).to_numpy()
                shuffles = [rng.permutation(n) for _ in range(permutations)]
                d_ranks = ranks(d[iu])
                rho_ops, p_ops = mantel(d_ranks, ops, lambda o: np.abs(o[:, None, :] - o[None, :, :]).sum(-1), shuffles, iu)
                rho_acc, p_acc = mantel(d_ranks, acc, lambda a: np.abs(a[:, None] - a[None, :]), shuffles, iu)
                knn = pearson(ranks(acc), ranks(knn_mean(d, acc, k)))
                knn_null = [pearson(ranks(acc[p]), ranks(knn_mean(d, acc[p], k))) for p in shuffles]
                dominant = np.argmax(ops, axis=1)  # argmax takes the first maximum: conv3x3 first
                nearest = np.argsort(d + np.diag(np.full(n, np.inf)), axis=1)[:, 0]
                same = float((dominant[nearest] == dominant).mean())
                same_null = [float((dominant[p][nearest] == dominant[p]).mean()) for p in shuffles]
                results.append(
                    dict(
                        measure=f"{metric}@{layer}",
                        cells=n,
                        rho_ops=rho_ops,
                        p_ops=p_ops,
                        rho_acc=rho_acc,
                        p_acc=p_acc,
                        knn_acc=knn,
                        p_knn=permutation_p(knn, knn_null),
                        same_op_knn=same,
                        same_op_null=float(np.mean(same_null)),
                        p_same=permutation_p(same, same_null),
                    )
                )
        print(
            f"{out}: {len(nets)} networks; test accuracy {nets.test_accuracy.astype(float).min():.3f}–"
            f"{nets.test_accuracy.astype(float).max():.3f} (median {nets.test_accuracy.astype(float).median():.3f})"
        )
    table = pd.DataFrame(results)
    pd.set_option("display.width", 200)
    print(f"\n{permutations} permutations, k = {k}")
    print(table.to_string(index=False, float_format=lambda v: f"{v:.4g}"))
    return table


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sub = ap.add_subparsers(dest="command", required=True)
    s = sub.add_parser("subset")
    s.add_argument("zoo")
    s.add_argument("n", type=int)
    a = sub.add_parser("analyze")
    a.add_argument("out", nargs="+")
    a.add_argument("--permutations", type=int, default=200)
    a.add_argument("--k", type=int, default=5)
    a.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    if args.command == "subset":
        subset(args.zoo, args.n)
    else:
        analyze(args.out, args.permutations, args.k, args.seed)


if __name__ == "__main__":
    main()
