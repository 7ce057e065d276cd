"""Do distances separate networks trained in different learning regimes (rich vs lazy), and do
they track accuracy instead? Reads a run's tables (pandas + DuckDB) over a zoo with a `regime`
column (configs/zoo_regimes.toml, run by configs/regimes.toml).

    PY=$(bash scripts/python_env.sh)
    $PY scripts/analyze_regimes.py configs/out/regimes [--permutations 2000] [--k 3]

For each measure (metric at a layer: Procrustes and CKA at the hidden layers and the logits,
MSA at the networks' weights) over the final-epoch networks:

- silhouette of the regime labels under the distance (Rousseeuw 1987), and its permutation p
  (labels shuffled; p = (1 + #null >= observed) / (1 + permutations));
- leave-one-out k-NN accuracy of the regime label (majority of the k nearest, ties to the
  nearest), and its permutation p;
- whether the distance tracks accuracy instead: Spearman rho between each pair's distance and
  the absolute difference of their test accuracies, with a Mantel permutation p (accuracies
  shuffled across networks).

Then the laziness measures per regime (the zoo's manifest columns), showing the regimes differ.
"""

import argparse
import os
import sys

import duckdb
import numpy as np
import pandas as pd


def load(out):
    models = duckdb.sql(f"select * from read_parquet('{out}/models/*.parquet')").df()
    distances = duckdb.sql(
        f"""select metric, model_a, layer_a, model_b, layer_b, distance
            from read_parquet('{out}/distances/*.parquet') where layer_a = layer_b and model_a <> model_b"""
    ).df()
    return models, distances


def matrix(distances, metric, layer, ids):
    index = {m: i for i, m in enumerate(ids)}
    d = np.full((len(ids), len(ids)), np.nan)
    np.fill_diagonal(d, 0.0)
    rows = distances[(distances.metric == metric) & (distances.layer_a == layer)]
    for a, b, v in zip(rows.model_a, rows.model_b, rows.distance):
        if a in index and b in index:
            d[index[a], index[b]] = d[index[b], index[a]] = v
    return d


def silhouette(d, labels):
    n = len(labels)
    s = np.zeros(n)
    for i in range(n):
        same = (labels == labels[i]) & (np.arange(n) != i)
        if not same.any():
            continue
        a = d[i, same].mean()
        b = min(d[i, labels == other].mean() for other in np.unique(labels) if other != labels[i])
        s[i] = (b - a) / max(a, b) if max(a, b) > 0 else 0.0
    return s.mean()


def knn_accuracy(d, labels, k):
    n = len(labels)
    correct = 0
    for i in range(n):
        order = [j for j in np.argsort(d[i], kind="stable") if j != i][:k]
        votes = pd.Series(labels[order]).value_counts()
        best = votes[votes == votes.max()].index
        guess = labels[order[0]] if len(best) > 1 and labels[order[0]] in best else best[0]
        correct += guess == labels[i]
    return correct / n


def spearman(x, y):
    rx, ry = pd.Series(x).rank().to_numpy(), pd.Series(y).rank().to_numpy()
    return np.corrcoef(rx, ry)[0, 1]


def permutation_p(observed, null):
    return (1 + np.sum(np.asarray(null) >= observed)) / (1 + len(null))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("out")
    ap.add_argument("--permutations", type=int, default=2000)
    ap.add_argument("--k", type=int, default=3)
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    models, distances = load(args.out)
    if "regime" not in models.columns:
        sys.exit(f"{args.out}: the zoo has no regime column (see configs/zoo_regimes.toml)")
    nets = models[models.role == "output"].copy()
    nets["epoch"] = nets.epoch.astype(int)
    nets = nets[nets.epoch == nets.epoch.max()].sort_values("model_id")
    ids = list(nets.model_id)
    labels = nets.regime.to_numpy()
    accuracy = nets.test_accuracy.astype(float).to_numpy()
    rng = np.random.default_rng(args.seed)
    shuffles = [rng.permutation(len(ids)) for _ in range(args.permutations)]
    iu = np.triu_indices(len(ids), 1)
    acc_gap = np.abs(accuracy[:, None] - accuracy[None, :])

    measures = []
    for metric in sorted(distances.metric.unique()):
        layers = sorted(distances[distances.metric == metric].layer_a.unique())
        for layer in layers:
            if layer == "input":
                continue  # the same probe images for every network
            d = matrix(distances, metric, layer, ids)
            if np.isnan(d).any():
                continue
            # MSA compares the networks' pullback metrics (of the feature map, at the probe
            # images); its rows sit at the layer that carries the weights
            label = f"{metric}@feature_map" if metric.startswith("msa") else f"{metric}@{layer}"
            measures.append((label, d))

    rows = []
    for name, d in measures:
        sil = silhouette(d, labels)
        knn = knn_accuracy(d, labels, args.k)
        sil_null = [silhouette(d, labels[p]) for p in shuffles]
        knn_null = [knn_accuracy(d, labels[p], args.k) for p in shuffles]
        rho = spearman(d[iu], acc_gap[iu])
        rho_null = [spearman(d[iu], np.abs(accuracy[p][:, None] - accuracy[p][None, :])[iu]) for p in shuffles]
        rows.append(
            dict(
                measure=name,
                silhouette=sil,
                p_silhouette=permutation_p(sil, sil_null),
                knn_accuracy=knn,
                p_knn=permutation_p(knn, knn_null),
                rho_accuracy_gap=rho,
                p_rho=permutation_p(rho, rho_null),
            )
        )
    table = pd.DataFrame(rows)
    pd.set_option("display.width", 200)
    print(f"{len(ids)} final-epoch networks, regimes {dict(pd.Series(labels).value_counts())}, "
          f"{args.permutations} permutations, k = {args.k} (chance k-NN accuracy {1 / len(set(labels)):.3f})")
    print(table.to_string(index=False, float_format=lambda v: f"{v:.4f}"))
    print()
    lazy_cols = [c for c in ["test_accuracy", "train_accuracy", "hidden_weight_change", "weight_change_out",
                             "kernel_distance", "label_alignment_init", "label_alignment"] if c in nets.columns]
    summary = nets[["regime"] + lazy_cols].copy()
    for c in lazy_cols:
        summary[c] = summary[c].astype(float)
    print("laziness by regime (mean ± sd over seeds):")
    agg = summary.groupby("regime")[lazy_cols].agg(["mean", "std"])
    for regime, r in agg.iterrows():
        cells = ", ".join(f"{c} {r[(c, 'mean')]:.4f} ± {r[(c, 'std')]:.4f}" for c in lazy_cols)
        print(f"  {regime}: {cells}")
    csv = os.path.join(args.out, "regime_analysis.csv")
    table.to_csv(csv, index=False)
    print(f"\nwritten {csv}")


if __name__ == "__main__":
    main()
