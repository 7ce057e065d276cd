"""All-pairs RSA and CKA against the reference Python implementations looped over pairs:

  bash scripts/bench.sh measures --netrep PATH/TO/netrep [--shape 500,1000,64] [--workers 2]

Zoo: K representations x m stimuli x n units, a shared 24-dimensional signal through random
readouts plus noise. Measures:

- RSA, Euclidean RDM compared by Pearson correlation (rsatoolbox 0.3.2: ``calc_rdm(...,
  method='euclidean')`` once per representation, then ``compare(rdm_a, rdm_b, method='corr')``
  per pair; and the same ``compare`` given all RDMs at once, rsatoolbox's own vectorised path);
- linear CKA (netrep's ``LinearCKA().score(X, Y)`` per pair, from the checkout at --netrep).

The reference loops time a sample of pairs (--sample) and are extrapolated to all pairs; the
repspace command line computes all pairs (-w workers) and reports its own pair phase. Prints
pairs/s, the ratios, and the largest difference between repspace and the reference on the
sampled pairs.
"""
import argparse
import os
import sys
import tempfile
import time

import numpy as np

from benchlib import best_run, distances


def zoo(k, m, n, seed=0):
    rng = np.random.default_rng(seed)
    signal = rng.standard_normal((m, 24))
    out = []
    for i in range(k):
        r = np.random.default_rng(seed * 1_000_003 + i)
        out.append(signal @ r.standard_normal((24, n)) + 0.5 * r.standard_normal((m, n)))
    return out


def sampled_pairs(k, count, seed=1):
    rng = np.random.default_rng(seed)
    pairs = set()
    while len(pairs) < min(count, k * (k - 1) // 2):
        a, b = sorted(rng.choice(k, 2, replace=False))
        pairs.add((int(a), int(b)))
    return sorted(pairs)


def write_zoo(work, data, metric_toml):
    with open(os.path.join(work, "manifest.csv"), "w") as f:
        f.write("model_id,layer,uri\n")
        for i, x in enumerate(data):
            path = os.path.join(work, f"m{i:04d}.npy")
            if not os.path.exists(path):
                np.save(path, x)
            f.write(f"m{i:04d},fc,m{i:04d}.npy\n")
    with open(os.path.join(work, "config.toml"), "w") as f:
        f.write(f'[input]\nmanifest = "manifest.csv"\n[output]\nuri = "out"\n{metric_toml}')


def repspace_all_pairs(repspace, work, data, metric_toml, workers, kind_of_value):
    write_zoo(work, data, metric_toml)
    wall, phase = best_run(repspace, work, workers, repeats=1)
    rows = distances(work, f"model_a, model_b, {kind_of_value}")
    values = {(int(a[1:]), int(b[1:])): v for a, b, v in rows}
    return wall, phase, values


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--repspace", required=True, help="the release binary")
    p.add_argument("--netrep", required=True, help="a checkout of ahwillia/netrep")
    p.add_argument("--shape", default="500,1000,64")
    p.add_argument("--workers", type=int, default=2)
    p.add_argument("--sample", type=int, default=200, help="pairs timed in each reference loop")
    args = p.parse_args()
    k, m, n = (int(v) for v in args.shape.split(","))
    pairs = k * (k - 1) // 2
    data = zoo(k, m, n)
    sample = sampled_pairs(k, args.sample)
    print(f"{k} representations x {m} stimuli x {n} units, {pairs} pairs, {args.workers} workers; "
          f"reference loops timed on {len(sample)} pairs", flush=True)

    import rsatoolbox

    t = time.perf_counter()
    rdms = [rsatoolbox.rdm.calc_rdm(rsatoolbox.data.Dataset(x), method="euclidean") for x in data]
    rdm_s = time.perf_counter() - t
    t = time.perf_counter()
    reference_rsa = {(a, b): float(rsatoolbox.rdm.compare(rdms[a], rdms[b], method="corr")[0, 0]) for a, b in sample}
    loop_s = (time.perf_counter() - t) / len(sample) * pairs + rdm_s
    try:
        t = time.perf_counter()
        stacked = rdms[0]
        for r in rdms[1:]:
            stacked.append(r)
        rsatoolbox.rdm.compare(stacked, stacked, method="corr")
        vectorised_s = time.perf_counter() - t + rdm_s
    except MemoryError:
        vectorised_s = float("nan")

    with tempfile.TemporaryDirectory() as work:
        wall, phase, values = repspace_all_pairs(
            args.repspace, work, data, '[[metrics]]\nname = "rsa"\nkind = "rsa"\nrdm = "euclidean"\ncompare = "pearson"\n',
            args.workers, "similarity")
        err = max(abs(values[p] - v) for p, v in reference_rsa.items())
        print("RSA (euclidean RDM, Pearson)", flush=True)
        print(f"  rsatoolbox compare per pair      {loop_s:9.1f} s  {pairs / loop_s:10.1f} pairs/s (extrapolated)")
        print(f"  rsatoolbox compare, all at once  {vectorised_s:9.1f} s  {pairs / vectorised_s:10.1f} pairs/s")
        print(f"  repspace run                     {wall:9.1f} s  {pairs / wall:10.1f} pairs/s  "
              f"{loop_s / wall:6.1f}x the loop  {vectorised_s / wall:5.1f}x all at once  "
              f"(pair phase {pairs / phase:.0f} pairs/s)  max |diff| {err:.1e}", flush=True)

        sys.path.insert(0, os.path.abspath(args.netrep))
        from netrep.metrics import LinearCKA

        cka = LinearCKA()
        t = time.perf_counter()
        reference_cka = {(a, b): float(cka.score(data[a], data[b])) for a, b in sample}
        cka_s = (time.perf_counter() - t) / len(sample) * pairs
        wall, phase, values = repspace_all_pairs(
            args.repspace, work, data, '[[metrics]]\nname = "cka"\nkind = "cka"\n', args.workers, "distance")
        # netrep's score is the angular distance arccos(CKA)
        err = max(abs(values[p] - v) for p, v in reference_cka.items())
        print("linear CKA (angular)", flush=True)
        print(f"  netrep LinearCKA per pair        {cka_s:9.1f} s  {pairs / cka_s:10.1f} pairs/s (extrapolated)")
        print(f"  repspace run                     {wall:9.1f} s  {pairs / wall:10.1f} pairs/s  "
              f"{cka_s / wall:6.1f}x netrep  (pair phase {pairs / phase:.0f} pairs/s)  max |diff| {err:.1e}", flush=True)


if __name__ == "__main__":
    main()
