"""Latency statistics the way trtexec reports them (numpy only; no torch).

``summarize(samples_ms)`` gives min/max/mean/median/p90/p95/p99/std of a list of per-frame
times in milliseconds; ``stability_warnings`` flags a run whose spread is too wide to trust,
with trtexec's two rules: coefficient of variation > 2.5 %, or IQR / median > 10 %.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Dict, List, Optional, Sequence

import numpy as np

CV_LIMIT = 0.025
"""Coefficient of variation (std / mean) above which a measurement is called unstable."""
IQR_LIMIT = 0.10
"""Interquartile range / median above which a measurement is called unstable."""
PERCENTILES = (90, 95, 99)


@dataclass
class LatencyStats:
    """Summary of ``n`` per-frame times, all in milliseconds (``cv``, ``iqr_ratio`` are fractions)."""

    n: int
    min: float
    max: float
    mean: float
    median: float
    p90: float
    p95: float
    p99: float
    std: float
    cv: float
    iqr_ratio: float

    def to_json(self) -> Dict[str, float]:
        return asdict(self)


def summarize(samples_ms: Sequence[float]) -> LatencyStats:
    """Statistics of per-frame times in ms. Percentiles use linear interpolation; std is the
    population standard deviation (as trtexec). Raises ValueError on an empty sequence."""
    a = np.asarray(samples_ms, dtype=np.float64).ravel()
    if a.size == 0:
        raise ValueError("no samples to summarize")
    if not np.all(np.isfinite(a)):
        raise ValueError("samples contain NaN or infinity")
    mean = float(a.mean())
    median = float(np.median(a))
    std = float(a.std())
    q1, q3 = (float(v) for v in np.percentile(a, [25, 75]))
    p90, p95, p99 = (float(v) for v in np.percentile(a, PERCENTILES))
    return LatencyStats(
        n=int(a.size), min=float(a.min()), max=float(a.max()), mean=mean, median=median,
        p90=p90, p95=p95, p99=p99, std=std,
        cv=std / mean if mean > 0 else 0.0,
        iqr_ratio=(q3 - q1) / median if median > 0 else 0.0,
    )


def throughput_fps(frames: int, seconds: float) -> float:
    """Frames per second over a wall-clock span (0 when the span is not positive)."""
    return frames / seconds if seconds > 0 else 0.0


def stability_warnings(stats: LatencyStats, what: str = "latency") -> List[str]:
    """trtexec's spread warnings for ``stats`` (empty when the run looks stable)."""
    out: List[str] = []
    if stats.cv > CV_LIMIT:
        out.append(f"{what}: coefficient of variation {100 * stats.cv:.1f} % > {100 * CV_LIMIT:.1f} %; "
                   "the machine is busy or clocks are not locked, so the numbers may not be stable.")
    if stats.iqr_ratio > IQR_LIMIT:
        out.append(f"{what}: IQR/median {100 * stats.iqr_ratio:.1f} % > {100 * IQR_LIMIT:.0f} %; "
                   "timings are widely spread; raise --iters or quiet the machine.")
    return out


def maybe_summarize(samples_ms: Optional[Sequence[float]]) -> Optional[LatencyStats]:
    """``summarize`` for optional series (None or empty -> None)."""
    if samples_ms is None or len(samples_ms) == 0:
        return None
    return summarize(samples_ms)
