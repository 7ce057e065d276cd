"""The Python API against netrep's reference values (tests/fixtures, netrep @0186b8a), at the
tolerances of the Rust tests (docs/math.md §6.3): 1e-8 for closed forms, 1e-5 for the
iterative stochastic fits; and the API's own contracts (fit/score against
pairwise_distances, dtypes and layouts, errors, the pipeline's tables)."""

import json
import os
import pathlib

import numpy as np
import pytest

import repspace

ROOT = pathlib.Path(__file__).resolve().parents[2]
FIXTURES = pathlib.Path(os.environ.get("REPSPACE_FIXTURES") or ROOT / "tests" / "fixtures")
CLOSED, ITERATIVE = 1e-8, 1e-5


def load(name):
    ref = json.loads((FIXTURES / f"{name}.netrep.json").read_text())
    arrays = np.load(FIXTURES / f"{name}.npz")
    k = ref["K"]
    get = lambda key: [arrays[f"{key}{i}"] for i in range(k)]  # noqa: E731
    return ref, get("X"), get("T"), get("S"), get("C")


def metric_for(name):
    """The repspace object netrep's fixture entry `name` was computed with."""
    if name.startswith("linear_alpha"):
        alpha, score = name[len("linear_alpha"):].split("_")
        return repspace.LinearMetric(alpha=float(alpha), score_method=score), "X", CLOSED
    if name.startswith("permutation_"):
        return repspace.PermutationMetric(score_method=name.split("_")[1]), "X", CLOSED
    if name == "linear_cka_angular":
        return repspace.LinearCKA(), "X", CLOSED
    if name == "energy_orth":
        return repspace.EnergyStochasticMetric(niter=100, tol=1e-6), "S", ITERATIVE
    if name.startswith("gaussian_alpha"):
        alpha = float(name[len("gaussian_alpha"):].split("_")[0])
        return repspace.GaussianStochasticMetric(alpha=alpha, niter=1000, tol=1e-8), "S", ITERATIVE
    if name == "conv_linear_alpha1_angular":
        return repspace.ConvMetric(alpha=1.0, score_method="angular"), "C", CLOSED
    raise KeyError(name)


@pytest.mark.parametrize("fixture", ["shape_small", "shape_medium"])
def test_every_fixture_value_through_pairwise_distances(fixture):
    ref, X, T, S, C = load(fixture)
    inputs = {"X": X, "S": S, "C": C}
    assert ref["metrics"], "the fixture has values"
    for name, entry in ref["metrics"].items():
        metric, kind, tol = metric_for(name)
        if "D_test" in entry:
            D, D_test = repspace.pairwise_distances(metric, X, T, workers=2)
            np.testing.assert_allclose(D_test, np.array(entry["D_test"]), atol=tol, rtol=0, err_msg=name)
        else:
            D = repspace.pairwise_distances(metric, inputs[kind], workers=2)
        np.testing.assert_allclose(D, np.array(entry["D"]), atol=tol, rtol=0, err_msg=name)
        assert np.all(np.diag(D) == 0.0) and np.array_equal(D, D.T), name


def test_fit_score_and_score_equal_the_matrices():
    ref, X, T, S, C = load("shape_small")
    for name in ["linear_alpha0.5_euclidean", "linear_alpha0_angular", "permutation_angular"]:
        metric, _, _ = metric_for(name)
        D, D_test = repspace.pairwise_distances(metric, X, T)
        for i, j in [(0, 1), (2, 3), (1, 3)]:
            assert metric.fit(X[i], X[j]).score(X[i], X[j]) == pytest.approx(D[i, j], abs=1e-12)
            assert metric.fit_score(X[i], X[j]) == pytest.approx(D[i, j], abs=1e-12)
            # netrep's held-out call: fit on training rows, score new rows of the same networks
            assert metric.fit(X[i], X[j]).score(T[i], T[j]) == pytest.approx(D_test[i, j], abs=1e-12)
    conv = ref["metrics"]["conv_linear_alpha1_angular"]["D"][0][1]
    assert repspace.convolve_metric(repspace.LinearMetric(alpha=1.0), C[0], C[1]) == pytest.approx(conv, abs=CLOSED)


def test_float32_and_fortran_order_are_accepted():
    ref, X, T, S, C = load("shape_small")
    metric = repspace.LinearMetric(alpha=1.0)
    D = repspace.pairwise_distances(metric, X)
    fortran = [np.asfortranarray(x) for x in X]
    assert np.array_equal(repspace.pairwise_distances(metric, fortran), D)
    mixed = [x.astype(np.float32) if i % 2 else x for i, x in enumerate(X)]
    D32 = repspace.pairwise_distances(metric, mixed)
    np.testing.assert_allclose(D32, D, atol=1e-5)
    # a strided view (every other row of a bigger array) reads its logical rows
    bigger = np.repeat(X[0], 2, axis=0)
    assert repspace.LinearMetric().fit_score(bigger[::2], X[1]) == pytest.approx(D[0, 1], abs=1e-12)


def test_errors_name_the_array_and_the_key():
    _, X, _, _, _ = load("shape_small")
    bad = X[2].copy()
    bad[3, 1] = np.nan
    with pytest.raises(ValueError, match=r"traindata\[2\]: 1 non-finite value\(s\); first at \[3, 1\] = NaN"):
        repspace.pairwise_distances(repspace.LinearMetric(), [X[0], X[1], bad])
    with pytest.raises(ValueError, match=r"alpha: must lie in \[0, 1\]"):
        repspace.LinearMetric(alpha=2.0).fit_score(X[0], X[1])
    with pytest.raises(ValueError, match="no variance"):
        repspace.LinearMetric().fit_score(np.zeros((40, 6)), X[1])
    with pytest.raises(TypeError, match="float32 or float64"):
        repspace.LinearMetric().fit_score(X[0].astype(np.int64), X[1])
    with pytest.raises(ValueError, match="testdata has 1 arrays, traindata 2"):
        repspace.pairwise_distances(repspace.LinearMetric(), X[:2], X[:1])
    with pytest.raises(ValueError, match="same number of units"):
        repspace.pairwise_distances(repspace.LinearMetric(zero_pad=False), X)


def test_run_from_python_and_tables_as_dataframes(tmp_path):
    zoo = ROOT / "configs" / "demo_zoo"
    config = tmp_path / "job.toml"
    config.write_text(
        f'[input]\nmanifest = "{zoo / "manifest.csv"}"\n[output]\nuri = "out"\n[pairs]\nscope = "within_layer"\n'
        '[[metrics]]\nname = "procrustes"\nkind = "shape"\nalpha = 1.0\n'
    )
    run = repspace.run(str(config), workers=2)
    assert not run.with_errors
    distances = run.table("distances")
    models = run.table("models")
    layers = models.groupby("layer").size()
    assert len(distances) == int(sum(n * (n - 1) // 2 for n in layers)), "every pair within each layer, once"
    assert distances["distance"].between(0, np.pi / 2 + 1e-12).all()
    # the pipeline and the Python API compute the same distance for a pair
    import pandas as pd

    manifest = pd.read_csv(zoo / "manifest.csv").set_index(["model_id", "layer"])
    def array(model, layer):
        entry = manifest.loc[(model, layer)]
        return np.load(zoo / entry.uri)[entry.key]
    row = distances.iloc[0]
    a, b = array(row.model_a, row.layer_a), array(row.model_b, row.layer_b)
    assert repspace.LinearMetric(alpha=1.0).fit_score(a, b) == pytest.approx(row.distance, abs=1e-12)
    again = repspace.read_table(run.output, "distances")
    assert len(again) == len(distances)
