"""report: the JSON/Markdown/plot a benchmark writes, with the paper's Table 5 beside our numbers."""

import json
import sys

import pytest

from fastscnn_edge.bench import cases as bench
from fastscnn_edge.bench import report
from fastscnn_edge.bench import timing
from tests.bench.test_timing import RES, _Recorder


def test_plot_without_matplotlib_is_a_clear_error(tmp_path, monkeypatch):
    from fastscnn_edge.core.errors import MissingDependency

    r = timing.run_case(bench.BenchCase(None, "onnxruntime", "cpu", "cls", RES),
                         bench.BenchOptions(warmup=0, iters=2), runner=_Recorder())
    monkeypatch.setitem(sys.modules, "matplotlib", None)  # import matplotlib -> ImportError
    with pytest.raises(MissingDependency, match="matplotlib"):
        report.write_plot(tmp_path / "p.png", [r])
    assert not (tmp_path / "p.png").exists()


def test_markdown_sets_ours_beside_the_paper():
    r = timing.run_case(bench.BenchCase(None, "onnxruntime", "cpu", "cls", (512, 1024)),
                         bench.BenchOptions(warmup=0, iters=2), runner=_Recorder())
    (c,) = report.paper_comparison([r])
    assert (c["titan_xp"], c["titan_x_maxwell"]) == (285.8, 218.8)
    md = report.markdown([r], {"machine": "m", "cpu": {}, "gpus": [], "packages": {}}, bench.BenchOptions())
    assert "285.8" in md and "218.8" in md and "Table 5" in md


def test_json_report_names_machine_protocol_and_results(tmp_path):
    r = timing.run_case(bench.BenchCase(None, "onnxruntime", "cpu", "cls", RES),
                        bench.BenchOptions(warmup=1, iters=3), runner=_Recorder())
    env = {"machine": "test box", "cpu": {"usable": 2}, "gpus": [], "packages": {"numpy": "1"}}
    doc = report.to_json([r], bench.BenchOptions(warmup=1, iters=3), env)
    path = report.write_json(tmp_path / "b.json", doc)
    back = json.loads(path.read_text())
    assert back["environment"]["machine"] == "test box"
    assert back["protocol"]["warmup_frames"] == 1 and back["protocol"]["timed_frames"] == 3
    (row,) = back["results"]
    assert row["latency_ms"]["n"] == 3 and row["resolution"] == list(RES) and row["backend"] == "onnxruntime"
    assert not list(tmp_path.glob(".*.part"))
