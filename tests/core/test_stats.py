"""Latency statistics and trtexec's stability rules (numpy only)."""

import math

import numpy as np
import pytest

from fastscnn_edge.core.stats import (CV_LIMIT, IQR_LIMIT, maybe_summarize, stability_warnings, summarize,
                                 throughput_fps)


def test_summarize_known_values():
    s = summarize(list(range(1, 101)))
    assert s.n == 100
    assert (s.min, s.max) == (1.0, 100.0)
    assert s.mean == pytest.approx(50.5)
    assert s.median == pytest.approx(50.5)
    assert s.p90 == pytest.approx(90.1)
    assert s.p95 == pytest.approx(95.05)
    assert s.p99 == pytest.approx(99.01)
    assert s.std == pytest.approx(math.sqrt((100**2 - 1) / 12))  # population std of 1..100
    assert s.cv == pytest.approx(s.std / 50.5)
    assert s.iqr_ratio == pytest.approx((75.25 - 25.75) / 50.5)
    assert set(s.to_json()) >= {"min", "max", "mean", "median", "p90", "p95", "p99", "std", "cv", "iqr_ratio"}


def test_percentiles_are_ordered_for_random_samples():
    rng = np.random.default_rng(1)
    s = summarize(rng.lognormal(1.0, 0.3, size=257))
    assert s.min <= s.median <= s.p90 <= s.p95 <= s.p99 <= s.max


def test_stable_run_has_no_warnings():
    s = summarize([10.0, 10.01, 9.99, 10.0, 10.02, 9.98])
    assert s.cv < CV_LIMIT and s.iqr_ratio < IQR_LIMIT
    assert stability_warnings(s) == []


def test_one_outlier_trips_cv_but_not_iqr():
    s = summarize([10.0] * 99 + [20.0])
    assert s.iqr_ratio == 0.0
    w = stability_warnings(s, "host latency")
    assert len(w) == 1 and "coefficient of variation" in w[0] and w[0].startswith("host latency")


def test_wide_spread_trips_both_rules():
    w = stability_warnings(summarize([5.0, 10.0, 15.0, 20.0] * 10))
    assert any("coefficient of variation" in x for x in w)
    assert any("IQR/median" in x for x in w)


def test_bad_samples_raise():
    with pytest.raises(ValueError):
        summarize([])
    with pytest.raises(ValueError):
        summarize([1.0, float("nan")])
    assert maybe_summarize([]) is None and maybe_summarize(None) is None
    assert maybe_summarize([2.0]).mean == 2.0


def test_throughput():
    assert throughput_fps(100, 2.0) == 50.0
    assert throughput_fps(10, 0.0) == 0.0
