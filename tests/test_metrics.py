import numpy as np
import pytest

from course.metrics import (accuracy, bootstrap_ci, confidence, expected_calibration_error,
                            log_loss, paired_bootstrap_gap, reliability)


def test_accuracy_and_log_loss_by_hand():
    p, y = np.array([0.9, 0.2, 0.6, 0.4]), np.array([1, 0, 0, 0])
    assert accuracy(p, y) == 0.75
    expected = -(np.log(0.9) + np.log(0.8) + np.log(0.4) + np.log(0.6)) / 4
    assert log_loss(p, y) == pytest.approx(expected)
    np.testing.assert_allclose(confidence(p), [0.9, 0.8, 0.6, 0.6])


def test_ece_is_zero_for_calibrated_and_large_for_overconfident():
    rng = np.random.default_rng(0)
    p = rng.uniform(0, 1, 200_000)
    y = (rng.random(p.size) < p).astype(int)
    assert expected_calibration_error(p, y) < 0.01
    assert expected_calibration_error(p, y, strategy="quantile") < 0.01
    over = np.where(p > 0.5, 0.99, 0.01)
    assert expected_calibration_error(over, y) > 0.2


def test_reliability_bins_count_everything_and_equal_mass_is_balanced():
    rng = np.random.default_rng(1)
    p = rng.uniform(0, 1, 1000)
    y = rng.integers(0, 2, 1000)
    assert reliability(p, y, 10)["count"].sum() == 1000
    counts = reliability(p, y, 5, "quantile")["count"]
    assert counts.min() >= 190 and counts.max() <= 210


def test_bootstrap_interval_covers_the_mean_and_paired_gap_sign():
    rng = np.random.default_rng(2)
    a = rng.normal(1.0, 1.0, 500)
    lo, hi = bootstrap_ci(a)
    assert lo < a.mean() < hi and hi - lo < 0.3
    gap = paired_bootstrap_gap(a - 0.5, a)
    assert gap["mean"] == pytest.approx(-0.5) and gap["ci95"][1] < 0


@pytest.mark.parametrize("p,y,match", [([0.5], [1, 0], "shape"), ([1.5], [1], r"\[0, 1\]"),
                                       ([], [], "empty")])
def test_bad_inputs(p, y, match):
    with pytest.raises(ValueError, match=match):
        accuracy(p, y)
