"""Metrics for probabilistic binary predictions, shared by the lessons.

Conventions: ``p`` is the predicted probability that the label is 1, ``y`` the label in
{0, 1}; both are 1-D arrays of the same length. *Confidence* is ``max(p, 1 - p)``, the
probability the model gives to the answer it predicts.
"""
from __future__ import annotations

import numpy as np

from .checks import twin

__all__ = ["accuracy", "log_loss", "confidence", "expected_calibration_error",
           "reliability", "bootstrap_ci", "paired_bootstrap_gap", "VERDICTS", "verdict",
           "rounded"]

_EPS = 1e-7


def _check(p, y) -> tuple[np.ndarray, np.ndarray]:
    p, y = np.asarray(p, dtype=float), np.asarray(y, dtype=float)
    if p.shape != y.shape or p.ndim != 1:
        raise ValueError(f"p and y must be 1-D arrays of one shape, got {p.shape} and {y.shape}")
    if p.size == 0:
        raise ValueError("p and y are empty")
    if np.any((p < 0) | (p > 1)):
        raise ValueError("p must hold probabilities in [0, 1]")
    return p, y


def accuracy(p, y) -> float:
    """Share of items where the predicted side (p > 0.5) matches the label."""
    p, y = _check(p, y)
    return float(((p > 0.5) == (y == 1)).mean())


def log_loss(p, y) -> float:
    """Mean negative log-likelihood of the labels, in nats (clipped away from 0 and 1)."""
    p, y = _check(p, y)
    p = np.clip(p, _EPS, 1 - _EPS)
    return float(-(y * np.log(p) + (1 - y) * np.log(1 - p)).mean())


def confidence(p) -> np.ndarray:
    """Probability given to the predicted answer, ``max(p, 1 - p)``, in [0.5, 1]."""
    p = np.asarray(p, dtype=float)
    return np.maximum(p, 1 - p)


def _bin_edges(conf: np.ndarray, n_bins: int, strategy: str) -> np.ndarray:
    if strategy == "uniform":
        return np.linspace(0.5, 1.0, n_bins + 1)
    if strategy == "quantile":
        return np.quantile(conf, np.linspace(0, 1, n_bins + 1))
    raise ValueError(f"strategy must be 'uniform' or 'quantile', got {strategy!r}")


@twin
def reliability(p, y, n_bins: int = 10, strategy: str = "uniform") -> dict[str, np.ndarray]:
    """Reliability-diagram data on the confidence of the predicted answer.

    Args:
        p, y: predictions and labels, (n,).
        n_bins: number of bins.
        strategy: ``"uniform"`` (equal-width bins on [0.5, 1]) or ``"quantile"``
            (equal-mass bins, about n / n_bins items each).

    Returns:
        dict of (n_bins,) arrays: ``confidence`` (mean in the bin), ``accuracy`` (share
        correct), ``count``; empty bins hold NaN and count 0.
    """
    p, y = _check(p, y)
    if n_bins < 1:
        raise ValueError(f"n_bins must be at least 1, got {n_bins}")
    conf = confidence(p)
    correct = ((p > 0.5) == (y == 1)).astype(float)
    edges = _bin_edges(conf, n_bins, strategy)
    idx = np.clip(np.searchsorted(edges, conf, side="right") - 1, 0, n_bins - 1)
    count = np.bincount(idx, minlength=n_bins).astype(float)
    with np.errstate(invalid="ignore", divide="ignore"):
        mean_conf = np.bincount(idx, weights=conf, minlength=n_bins) / count
        mean_acc = np.bincount(idx, weights=correct, minlength=n_bins) / count
    return {"confidence": mean_conf, "accuracy": mean_acc, "count": count.astype(int)}


@twin
def expected_calibration_error(p, y, n_bins: int = 10, strategy: str = "uniform") -> float:
    """ECE: the count-weighted mean gap between confidence and accuracy over bins."""
    rel = reliability(p, y, n_bins, strategy)
    filled = rel["count"] > 0
    weights = rel["count"][filled] / rel["count"].sum()
    return float((weights * np.abs(rel["confidence"][filled] - rel["accuracy"][filled])).sum())


@twin
def bootstrap_ci(values, n_boot: int = 2000, level: float = 0.95,
                 random_state: int | None = 0) -> tuple[float, float]:
    """Percentile bootstrap interval of the mean of ``values`` (n,), resampling items."""
    values = np.asarray(values, dtype=float)
    rng = np.random.default_rng(random_state)
    idx = rng.integers(0, values.size, size=(n_boot, values.size))
    means = values[idx].mean(axis=1)
    lo, hi = np.quantile(means, [(1 - level) / 2, (1 + level) / 2])
    return float(lo), float(hi)


@twin
def paired_bootstrap_gap(a, b, n_boot: int = 2000, random_state: int | None = 0) -> dict:
    """Mean of ``a - b`` over paired units (e.g. users) with a 95% bootstrap interval.

    Args:
        a, b: (n,) per-unit scores under two conditions, paired by position.

    Returns:
        ``{"mean": m, "ci95": [lo, hi]}``.
    """
    a, b = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
    if a.shape != b.shape:
        raise ValueError(f"a and b must be paired (same shape), got {a.shape} and {b.shape}")
    diff = a - b
    lo, hi = bootstrap_ci(diff, n_boot, 0.95, random_state)
    return {"mean": float(diff.mean()), "ci95": [lo, hi]}


VERDICTS = ("held", "did not", "reversed")


def verdict(gap: dict, sign: int) -> str:
    """Whether a town's effect held on real users, from a gap's 95% interval (``ci95``).

    Args:
        gap: ``{"mean", "ci95": [lo, hi]}`` as from :func:`paired_bootstrap_gap`.
        sign: +1 when the town's effect is a gap above zero, -1 below.

    Returns:
        "held" when the interval lies on the town's side of zero, "reversed" when on the
        other side, "did not" when it includes zero.
    """
    if sign not in (1, -1):
        raise ValueError(f"sign must be +1 or -1, got {sign}")
    lo, hi = (sign * v for v in gap["ci95"])
    return "held" if min(lo, hi) > 0 else "reversed" if max(lo, hi) < 0 else "did not"


def rounded(values, digits: int = 4):
    """A JSON-ready structure with every float rounded to ``digits`` decimals."""
    if isinstance(values, dict):
        return {key: rounded(value, digits) for key, value in values.items()}
    if isinstance(values, (list, tuple)):
        return [rounded(value, digits) for value in values]
    return round(values, digits) if isinstance(values, float) else values
