"""Pair-phase benchmark: repspace against a numpy baseline that follows netrep's
per-pair algorithm and, with --netrep, against netrep itself, measured in the same run on
the same machine.

Workload W1: K networks x m stimuli x n units (default 64 x 2000 x 128), all pairs, shape
metric, angular, alpha = 1 and alpha = 0.5 (or the --alpha values given), each in f64 and
with precision = "f32", on two zoo families (--family, default both):
  gaussian  each network tanh(Z W / sqrt(n) + 0.3 noise) over a shared full-rank Gaussian
            input Z (m x n);
  lowrank   the same over a shared 24-dimensional signal Z (m x 24), W / sqrt(24), noise 0.3
            (a few dozen large singular values of XᵀY and a long tail, as trained zoos have;
            angular alpha=1 distances near 0.58 rad, where the gaussian family's are near 0.86).
Both are the families of the bench_pair_kernel example (same ranks and noise level).

    bash scripts/bench.sh pairs [--alpha 1.0] [--family gaussian|lowrank]... [--no-f32]
        [--netrep PATH/TO/netrep [--netrep-models N]] [--scaling [--scaling-max 512]]

The numpy baseline is netrep's LinearMetric fit+score per pair with the per-network work
(centring, whitening) cached, i.e. the best that algorithm can be in numpy:
    fit:   U, _, Vt = svd(Xw.T @ Yw);  Wx = Zx @ U;  Wy = Zy @ Vt.T
    score: A = Xc @ Wx;  B = Yc @ Wy;  arccos(<A,B> / (|A| |B|))
It is timed on a random subset of pairs (all pairs cost the same) and reported as pairs/s.

With --netrep PATH (a checkout of ahwillia/netrep, imported from there; it needs scipy,
scikit-learn and tqdm, which bench.sh installs when --netrep is given): the real
netrep.multiset.pairwise_distances(LinearMetric(alpha, score_method="angular",
center_columns=True), Xs) on the same zoo, in its fastest mode (enable_caching=True where
the checkout has it, processes=--workers where it has that), over all pairs of the first
--netrep-models networks (default all K), in f64 with numpy's default BLAS threads.

For repspace, per family, alpha and precision: pairs/s of the whole run (load, prepare,
pairs, Parquet) and of the pair phase (the run's own pair_phase_seconds: its busiest
worker's time in tiles), each as a multiple of the numpy baseline and of netrep; the pair
phase's GFLOP/s counting only the 2·m·n² flops of each pair's cross product, as a share of
faer's GEMM on all threads (the bench_pair_kernel example, --gemm-bench, run once: also
faer's 1-thread rate, and on its zoos of the same two families (24 networks each) how many
pairs' Gram bounds are too loose, sending them to the bidiagonal path, and how many of those
take the SVD); the largest |difference| from the baseline's and netrep's
distances; the median and 10–90 % range of repspace's distances. A summary table at the
end. With --scaling, the cost per pair (f64, first family, first alpha) for
K = 16, 32, …, --scaling-max.
"""
import argparse
import inspect
import os
import re
import subprocess
import sys
import tempfile
import time

import numpy as np

from benchlib import best_run, distances

# family -> (rank of the shared input, None = n; noise level; label of the same family in
# the bench_pair_kernel example's output)
FAMILIES = {
    "gaussian": (None, 0.3, "gaussian"),
    "lowrank": (24, 0.3, "low-rank"),
}


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


def describe(family, n):
    rank, noise, _ = FAMILIES[family]
    if rank is None:
        return f"tanh layers over a shared full-rank Gaussian input (rank {n}), noise {noise}"
    return f"tanh layers over a shared {rank}-dimensional signal, noise {noise}"


def write_zoo(d, k, m, n, alpha, rng, tile_size=None, precision="f64", family="gaussian"):
    """K tanh networks of `family` sharing a random input, one .npy each, with manifest and config."""
    rank, noise, _ = FAMILIES[family]
    rank = rank or n
    xs = []
    base = rng.standard_normal((m, rank))
    with open(os.path.join(d, "manifest.csv"), "w") as f:
        f.write("model_id,layer,uri\n")
        for i in range(k):
            x = np.tanh(base @ rng.standard_normal((rank, n)) / np.sqrt(rank) + noise * rng.standard_normal((m, n)))
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


def import_netrep(path):
    """(LinearMetric, multiset.pairwise_distances) from the checkout at `path`."""
    sys.path.insert(0, os.path.abspath(path))
    try:
        from netrep.metrics import LinearMetric
        from netrep.multiset import pairwise_distances
    except ImportError as e:
        sys.exit(f"cannot import netrep from {path}: {e}\n(it needs scipy, scikit-learn and tqdm: "
                 f"{sys.executable} -m pip install scipy scikit-learn tqdm)")
    return LinearMetric, pairwise_distances


def run_netrep(netrep, xs, alpha, workers):
    """netrep.multiset.pairwise_distances on xs in its fastest mode: (pairs/s, K x K matrix, mode)."""
    linear_metric, pairwise = netrep
    params = inspect.signature(pairwise).parameters
    kw = {}
    if "verbose" in params:
        kw["verbose"] = False
    if "enable_caching" in params:
        kw["enable_caching"] = True
    if "processes" in params:
        kw["processes"] = workers
    metric = linear_metric(alpha=alpha, score_method="angular", center_columns=True)
    t = time.perf_counter()
    D = pairwise(metric, xs, **kw)
    seconds = time.perf_counter() - t
    D = D[0] if isinstance(D, tuple) else D
    k = len(xs)
    mode = ", ".join(f"{a}={v}" for a, v in kw.items() if a != "verbose") or "defaults"
    return k * (k - 1) // 2 / seconds, np.asarray(D), mode


def kernel_bench(gemm_bench):
    """Run the bench_pair_kernel example once: ({"1 thread": GFLOP/s, "N threads": GFLOP/s},
    {family label: (Gram-bound failures, bidiagonal-path SVD fallbacks, pairs, "its zoo's
    parameters")}). Empty dicts if it fails."""
    if not gemm_bench:
        return {}, {}
    try:
        out = subprocess.run([gemm_bench], check=True, capture_output=True, text=True).stdout
    except (OSError, subprocess.CalledProcessError) as e:
        print(f"bench_pair_kernel ({gemm_bench}) failed: {e}")
        return {}, {}
    rates = {t: float(g) for g, t in re.findall(r"faer GEMM \S+: ([0-9.]+) GFLOP/s \(([^)]+)\)", out)}
    fallbacks, label, params, gram = {}, None, "", None
    for line in out.splitlines():
        head = re.match(r"(\S+) zoo \((.*)\):\s*$", line)
        if head:
            label, params, gram = head.group(1), head.group(2), None
            continue
        fb = re.search(r"fallback (\d+) of (\d+) pairs", line)
        if fb and label and "Gram eigenvalues, batched" in line:
            gram = int(fb.group(1))
        if fb and label and "bidiagonal" in line and gram is not None:
            fallbacks[label] = (gram, int(fb.group(1)), int(fb.group(2)), params)
    return rates, fallbacks


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--repspace", required=True)
    p.add_argument("--models", type=int, default=64)
    p.add_argument("--stimuli", type=int, default=2000)
    p.add_argument("--units", type=int, default=128)
    p.add_argument("--alpha", type=float, action="append", help="alpha(s) to run (default: 1.0 and 0.5)")
    p.add_argument("--family", action="append", choices=list(FAMILIES),
                   help="zoo family(ies) to run (default: gaussian and lowrank)")
    p.add_argument("--workers", type=int, default=2)
    p.add_argument("--baseline-pairs", type=int, default=120)
    p.add_argument("--tile-size", type=int, default=None, help="[execution] tile_size (default: repspace's choice)")
    p.add_argument("--gemm-bench", default=None,
                   help="the bench_pair_kernel example binary (faer's GEMM rate, nuclear-norm path counts)")
    p.add_argument("--netrep", default=None, help="a checkout of ahwillia/netrep: time the real netrep on the same zoo")
    p.add_argument("--netrep-models", type=int, default=None,
                   help="time netrep on all pairs of the first N networks only (default: all K)")
    p.add_argument("--no-f32", action="store_true", help="skip the precision = \"f32\" runs")
    p.add_argument("--scaling", action="store_true", help="also time K = 16 … --scaling-max networks")
    p.add_argument("--scaling-max", type=int, default=512)
    args = p.parse_args()
    K, m, n = args.models, args.stimuli, args.units
    alphas = args.alpha or [1.0, 0.5]
    families = list(dict.fromkeys(args.family or list(FAMILIES)))
    precisions = ["f64"] + ([] if args.no_f32 else ["f32"])
    rng = np.random.default_rng(0)
    pairs = K * (K - 1) // 2
    flops = 2.0 * m * n * n  # the cross product X_wᵀY_w of one pair
    netrep = import_netrep(args.netrep) if args.netrep else None
    nk = min(args.netrep_models or K, K)
    threads = os.environ.get("OMP_NUM_THREADS") or os.environ.get("OPENBLAS_NUM_THREADS") or "default"
    print(f"workload W1: K={K} networks x m={m} stimuli x n={n} units, angular, all {pairs} pairs, "
          f"{args.workers} workers; families {', '.join(families)}; precisions {', '.join(precisions)}", flush=True)
    rates, fallbacks = kernel_bench(args.gemm_bench)
    for label, rate in rates.items():
        print(f"faer GEMM 1024^3 ({label}): {rate:.1f} GFLOP/s")
    gemm_all = max(rates.values()) if rates else None
    summary = []
    for alpha in alphas:
        for family in families:
            with tempfile.TemporaryDirectory() as d:
                xs = write_zoo(d, K, m, n, alpha, rng, args.tile_size, family=family)
                print(f"\nalpha={alpha}, family {family} ({describe(family, n)}):", flush=True)
                theirs, ref = baseline(xs, alpha, args.baseline_pairs, rng)
                print(f"  numpy-netrep baseline (per-pair fit+score, whitening cached, BLAS threads={threads}): "
                      f"{theirs:.1f} pairs/s ({len(ref)} pairs timed)", flush=True)
                fb = fallbacks.get(FAMILIES[family][2])
                if fb:
                    print(f"  nuclear norm (bench_pair_kernel, same family): Gram bound too loose for {fb[0]} of "
                          f"{fb[2]} pairs (they take the bidiagonal path), SVD for {fb[1]} (its zoo: {fb[3]})")
                else:
                    print("  nuclear norm paths (bench_pair_kernel, same family): unavailable"
                          + ("" if args.gemm_bench else " (no --gemm-bench)"))
                net_rate = net_D = None
                if netrep:
                    net_rate, net_D, mode = run_netrep(netrep, xs[:nk], alpha, args.workers)
                    scope = f"all {nk * (nk - 1) // 2} pairs" + (
                        "" if nk == K else f" of the first {nk} networks only (a subset of the {pairs}; --netrep-models)")
                    print(f"  netrep multiset.pairwise_distances ({mode}; f64, BLAS threads={threads}): "
                          f"{net_rate:.1f} pairs/s ({scope})", flush=True)
                for precision in precisions:
                    write_config(d, alpha, args.tile_size, precision)
                    wall, phase = best_run(args.repspace, d, args.workers)
                    got = {(int(a[3:]), int(b[3:])): v for a, b, v in distances(d)}
                    assert len(got) == pairs, f"repspace wrote {len(got)} of {pairs} pairs"
                    err = max(abs(got[k] - v) for k, v in ref.items())
                    gf = pairs * flops / phase / 1e9
                    vs_net = ""
                    if net_rate:
                        vs_net = f", {pairs / wall / net_rate:.2f}x netrep"
                    print(f"  repspace {precision}: whole run {wall:.3f} s = {pairs / wall:.1f} pairs/s "
                          f"({pairs / wall / theirs:.2f}x baseline{vs_net}); "
                          f"pair phase {phase:.3f} s = {pairs / phase:.1f} pairs/s ({pairs / phase / theirs:.2f}x baseline"
                          + (f", {pairs / phase / net_rate:.2f}x netrep" if net_rate else "") + ")")
                    line = f"    pair phase {gf:.1f} GFLOP/s (2·m·n² per pair)"
                    if gemm_all:
                        line += f" = {gf / gemm_all:.2f} of faer GEMM on all threads"
                    line += f"; max |difference| from the baseline {err:.2e}"
                    net_err = None
                    if net_D is not None:
                        net_err = max(abs(got[(i, j)] - net_D[i, j]) for i in range(nk) for j in range(i + 1, nk))
                        line += f", from netrep {net_err:.2e} ({nk * (nk - 1) // 2} pairs)"
                    print(line)
                    dist = np.array(list(got.values()))
                    q10, q50, q90 = np.percentile(dist, [10, 50, 90])
                    print(f"    repspace distances: median {q50:.3f} rad, 10–90 % {q10:.3f}–{q90:.3f} rad", flush=True)
                    summary.append((alpha, family, precision, pairs / wall, pairs / phase, theirs, net_rate,
                                    gf / gemm_all if gemm_all else None, err, net_err, q50, fb))
    print("\nsummary (pairs/s; 'x' = repspace whole run ÷ the other):")
    print(f"  {'alpha':>5} {'family':<8} {'prec':<4} {'whole':>8} {'phase':>8} {'numpy':>7} {'x numpy':>7} "
          f"{'netrep':>7} {'x netrep':>8} {'GEMM %':>6} {'|d-np|':>8} {'|d-net|':>8} {'median':>6} {'bidiag/SVD':>11}")
    for alpha, family, prec, whole, phase, theirs, net, share, err, net_err, med, fb in summary:
        print(f"  {alpha:>5} {family:<8} {prec:<4} {whole:8.1f} {phase:8.1f} {theirs:7.1f} {whole / theirs:7.2f} "
              + (f"{net:7.1f} {whole / net:8.2f} " if net else f"{'-':>7} {'-':>8} ")
              + (f"{100 * share:6.1f} " if share is not None else f"{'-':>6} ")
              + f"{err:8.1e} " + (f"{net_err:8.1e} " if net_err is not None else f"{'-':>8} ")
              + f"{med:6.3f} " + (f"{fb[0]:>4}/{fb[1]:<2}of {fb[2]}" if fb else f"{'-':>11}"))
    if args.scaling:
        alpha, family = alphas[0], families[0]
        print(f"\nscaling (repspace f64, alpha={alpha}, family {family}): K, pairs, whole-run and pair-phase microseconds per pair")
        k = 16
        while k <= args.scaling_max:
            with tempfile.TemporaryDirectory() as d:
                write_zoo(d, k, m, n, alpha, rng, family=family)
                wall, phase = best_run(args.repspace, d, args.workers, repeats=1)
                kp = k * (k - 1) // 2
                print(f"  K={k:4d}  {kp:7d} pairs  {wall:8.2f} s  {1e6 * wall / kp:8.1f} us/pair  pair phase {1e6 * phase / kp:8.1f} us/pair")
            k *= 2


if __name__ == "__main__":
    main()
