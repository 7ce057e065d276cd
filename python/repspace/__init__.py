"""repspace from Python: netrep's metric classes and ``pairwise_distances`` computed by
repspace's kernels, and repspace runs whose tables load as pandas DataFrames.

    >>> import repspace
    >>> d = repspace.LinearMetric(alpha=1.0, score_method="angular").fit_score(X, Y)
    >>> D = repspace.pairwise_distances(repspace.LinearMetric(alpha=0.5), [X0, X1, X2])
    >>> run = repspace.run("configs/random_zoo.toml"); run.table("distances")

Every metric is described by the same ``[[metrics]]`` table a config file uses, and checked
by the same code, so an invalid parameter raises ``ValueError`` naming the key, as the
command line does. Arrays may be float32 or float64, C or Fortran order.
"""

from __future__ import annotations

import math
import os
from typing import Any, Optional, Sequence

import numpy as np

from . import _repspace

__version__ = _repspace.__version__

__all__ = [
    "LinearMetric",
    "PermutationMetric",
    "LinearCKA",
    "GaussianStochasticMetric",
    "EnergyStochasticMetric",
    "ConvMetric",
    "convolve_metric",
    "pairwise_distances",
    "run",
    "Run",
    "read_table",
]


def _toml_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, np.integer)):
        return str(int(value))
    if isinstance(value, (float, np.floating)):
        if not math.isfinite(value):
            raise ValueError(f"parameters must be finite numbers, got {value}")
        return repr(float(value))
    if isinstance(value, str):
        return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'
    raise TypeError(f"unsupported parameter value {value!r}")


class _Metric:
    """A metric: its ``[[metrics]]`` table, and netrep's fit / score / fit_score."""

    _kind = ""

    def __init__(self, **params: Any) -> None:
        self._params = {k: v for k, v in params.items() if v is not None}
        self._fitted: Optional[tuple] = None

    def _table(self) -> str:
        lines = [f'name = "{type(self).__name__}"', f'kind = "{self._kind}"']
        lines += [f"{key} = {_toml_value(value)}" for key, value in self._params.items()]
        return "\n".join(lines) + "\n"

    def fit(self, X, Y):
        """Fit the alignment of X and Y (kept for ``score``); returns self, as netrep's does."""
        self._fitted = (X, Y)
        return self

    def score(self, X, Y) -> float:
        """The distance between X and Y under the alignment fitted by ``fit`` (netrep: the
        held-out score when X and Y are new rows of the fitted networks)."""
        if self._fitted is None:
            raise RuntimeError(f"{type(self).__name__}.score: call fit(X, Y) first")
        Xf, Yf = self._fitted
        if X is Xf and Y is Yf:
            return _repspace.fit_score(self._table(), Xf, Yf)[0]
        _, test, _ = _repspace.fit_score(self._table(), Xf, Yf, X, Y)
        if test is None:
            raise ValueError(f"{type(self).__name__} has no held-out score: score the fitted X and Y")
        return test

    def fit_score(self, X, Y) -> float:
        """fit(X, Y).score(X, Y): the training distance."""
        return _repspace.fit_score(self._table(), X, Y)[0]

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in self._params.items())
        return f"{type(self).__name__}({args})"


def _netrep_shape_options(center_columns: bool, zero_pad: bool, who: str) -> None:
    if not center_columns:
        raise NotImplementedError(f"{who}: repspace always centres the columns (center_columns=True)")
    if not zero_pad:
        # netrep refuses unequal widths without padding; padding does not change equal widths
        pass


class LinearMetric(_Metric):
    """netrep's ``LinearMetric(alpha, center_columns, zero_pad, score_method)``: the
    generalized shape metric (alpha = 1 Procrustes, 0 CCA). repspace's options:
    ``whitening="relative"`` (and ``rank_tol``), ``estimator="bias_corrected"``,
    ``precision="f32"``."""

    _kind = "shape"

    def __init__(self, alpha: float = 1.0, center_columns: bool = True, zero_pad: bool = True,
                 score_method: str = "angular", **repspace_options: Any) -> None:
        _netrep_shape_options(center_columns, zero_pad, "LinearMetric")
        self.alpha, self.score_method, self.zero_pad = alpha, score_method, zero_pad
        super().__init__(alpha=float(alpha), score=score_method, **repspace_options)

    def fit(self, X, Y):
        if not self.zero_pad and np.shape(X)[-1] != np.shape(Y)[-1]:
            raise ValueError("LinearMetric(zero_pad=False): X and Y must have the same number of units")
        return super().fit(X, Y)


class PermutationMetric(_Metric):
    """netrep's ``PermutationMetric(center_columns, zero_pad, score_method)``."""

    _kind = "permutation"

    def __init__(self, center_columns: bool = True, zero_pad: bool = True, score_method: str = "angular") -> None:
        _netrep_shape_options(center_columns, zero_pad, "PermutationMetric")
        super().__init__(score=score_method)


class LinearCKA(_Metric):
    """netrep's ``LinearCKA(center_columns=True)``: arccos of linear CKA. repspace's options:
    ``estimator="debiased"``, ``kernel="rbf"`` (with ``length_scale``)."""

    _kind = "cka"

    def __init__(self, center_columns: bool = True, **repspace_options: Any) -> None:
        if not center_columns:
            raise NotImplementedError("LinearCKA: repspace always centres the columns")
        super().__init__(**repspace_options)

    def score(self, X, Y) -> float:
        return self.fit_score(X, Y)


class GaussianStochasticMetric(_Metric):
    """netrep's ``GaussianStochasticMetric(alpha, group="orth", init="means", niter, tol)``
    on [conditions, repeats, units] arrays (means and covariances per condition, ddof 1, plus
    ``cov_eps`` I, as netrep's pairwise routine)."""

    _kind = "gaussian_stochastic"

    def __init__(self, alpha: float = 1.0, group: str = "orth", init: str = "means", niter: int = 1000,
                 tol: float = 1e-8, cov_eps: float = 1e-6) -> None:
        if group != "orth" or init != "means":
            raise NotImplementedError("GaussianStochasticMetric: group='orth', init='means' only")
        super().__init__(alpha=float(alpha), max_iter=int(niter), tol=float(tol), cov_eps=float(cov_eps))

    def score(self, X, Y) -> float:
        return self.fit_score(X, Y)


class EnergyStochasticMetric(_Metric):
    """netrep's ``EnergyStochasticMetric(group="orth", niter, tol)`` on [conditions, repeats,
    units] arrays."""

    _kind = "energy_stochastic"

    def __init__(self, group: str = "orth", niter: int = 100, tol: float = 1e-6) -> None:
        if group != "orth":
            raise NotImplementedError("EnergyStochasticMetric: group='orth' only")
        super().__init__(max_iter=int(niter), tol=float(tol))

    def score(self, X, Y) -> float:
        return self.fit_score(X, Y)


class ConvMetric(_Metric):
    """netrep's ``convolve_metric(LinearMetric(alpha, score_method=...), X, Y)`` as a metric
    on [images, height, width, channels] arrays: the minimum over circular spatial shifts."""

    _kind = "conv_shape"

    def __init__(self, alpha: float = 1.0, score_method: str = "angular") -> None:
        super().__init__(alpha=float(alpha), score=score_method)

    def score(self, X, Y) -> float:
        return self.fit_score(X, Y)


def convolve_metric(metric: LinearMetric, X, Y) -> float:
    """netrep's ``netrep.conv_layers.convolve_metric(metric, X, Y)``."""
    if not isinstance(metric, LinearMetric):
        raise TypeError("convolve_metric takes a LinearMetric")
    return ConvMetric(alpha=metric.alpha, score_method=metric.score_method).fit_score(X, Y)


def pairwise_distances(metric: _Metric, traindata: Sequence, testdata: Optional[Sequence] = None, *,
                       workers: Optional[int] = None, verbose: bool = False, enable_caching: bool = True,
                       **netrep_options: Any):
    """netrep's ``multiset.pairwise_distances(metric, traindata, testdata=None)``: the K × K
    matrix of distances (zero diagonal), or ``(D_train, D_test)`` with held-out data. Runs on
    ``workers`` threads (default: every core) with the GIL released; ``verbose`` shows a
    progress bar. netrep's other keywords (``processes``, ``enable_caching``) are accepted;
    every factor is always prepared once."""
    if not isinstance(metric, _Metric):
        raise TypeError("pairwise_distances takes a repspace metric (LinearMetric, PermutationMetric, ...)")
    workers = workers if workers is not None else netrep_options.pop("processes", None)
    train = list(traindata)
    test = None if testdata is None else list(testdata)
    if isinstance(metric, LinearMetric) and not metric.zero_pad and len({np.shape(x)[-1] for x in train}) > 1:
        raise ValueError("LinearMetric(zero_pad=False): every network must have the same number of units")
    D, D_test = _repspace.pairwise(metric._table(), train, test, workers, verbose)
    return D if test is None else (D, D_test)


class Run:
    """A finished run: its id, its output location, and its tables as DataFrames."""

    def __init__(self, run_id: str, output: str, with_errors: bool) -> None:
        self.run_id, self.output, self.with_errors = run_id, output, with_errors

    def table(self, name: str):
        """The committed table ``name`` (``distances``, ``models``, ``errors``, ...)."""
        return read_table(self.output, name)

    def __repr__(self) -> str:
        return f"Run(run_id={self.run_id!r}, output={self.output!r}, with_errors={self.with_errors})"


def run(config: str, workers: Optional[int] = None, quiet: bool = True) -> Run:
    """Run the job a config describes, as ``repspace run CONFIG -w WORKERS``."""
    run_id, output, with_errors = _repspace.run(os.fspath(config), workers, quiet)
    return Run(run_id, output, with_errors)


def read_table(output: str, name: str):
    """The committed table ``name`` of a run's output (a directory, ``file://`` or ``s3://``
    URL) as a pandas DataFrame: every Parquet file of ``<output>/<name>/``."""
    import pyarrow.dataset as ds

    output = os.fspath(output)
    if output.startswith("file://"):
        output = output[len("file://"):]
    base = output.rstrip("/") + "/" + name
    if "://" not in base and not os.path.isdir(base):
        raise FileNotFoundError(f"{base}: no such table (has the run committed?)")
    dataset = ds.dataset(base, format="parquet", exclude_invalid_files=False,
                         ignore_prefixes=[".", "_"])
    return dataset.to_table().to_pandas()
