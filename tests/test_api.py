"""The public Python API: the README's example runs as written, every function is typed and documented,
and importing the package loads nothing heavy."""

from __future__ import annotations

import inspect
import re
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]


def _readme_example() -> str:
    text = (REPO / "README.md").read_text(encoding="utf-8")
    section = text[text.index("## Python API"):]
    return re.search(r"```python\n(.*?)```", section, re.S).group(1)


def test_the_readme_example_runs_as_written(tmp_path, monkeypatch):
    monkeypatch.setenv("FASTSCNN_EDGE_ARTIFACTS", str(tmp_path / "artifacts"))
    monkeypatch.chdir(tmp_path)
    code = _readme_example()
    p = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=600,
                       env={**__import__("os").environ, "PYTHONPATH": str(REPO)})
    assert p.returncode == 0, p.stderr[-2000:]
    lines = p.stdout.strip().splitlines()
    assert lines[0] == "(1, 256, 512)" and re.match(r"^\d+\.\d fps, p99 \d+\.\d\d ms$", lines[1]), p.stdout
    made = sorted(x.name for x in (tmp_path / "artifacts").iterdir())
    assert made == ["fastscnn_paper_cls_256x512.fp16.onnx", "fastscnn_paper_cls_256x512.onnx"]


def test_every_api_function_is_typed_and_documented():
    import fastscnn_edge as fe

    for name in ("export_model", "quantize_model", "build_engine", "open_runner", "benchmark", "evaluate_model",
                 "predict_files"):
        fn = getattr(fe, name)
        assert fn.__doc__ and len(fn.__doc__.strip()) > 40, name
        sig = inspect.signature(fn)
        assert sig.return_annotation is not inspect.Signature.empty, name
        untyped = [p.name for p in sig.parameters.values() if p.annotation is inspect.Parameter.empty]
        assert untyped == [], (name, untyped)


def test_api_errors_are_user_errors_with_a_fix(tmp_path):
    import fastscnn_edge as fe

    with pytest.raises(fe.UserError) as e:
        fe.open_runner(tmp_path / "missing.onnx")
    assert "does not exist" in e.value.cause and e.value.fix
    with pytest.raises(fe.UserError, match="not of the form HxW"):
        fe.benchmark(tmp_path / "x.onnx", resolutions=["big"])


def test_importing_the_package_loads_nothing_heavy():
    code = ("import sys, fastscnn_edge as fe\n"
            "heavy = [m for m in ('torch', 'onnx', 'onnxruntime', 'tensorrt', 'tensorrt_rtx', 'cv2', 'numpy') "
            "if m in sys.modules]\n"
            "assert not heavy, heavy\n"
            "assert callable(fe.export_model) and fe.Resolution.parse('256x512') == (256, 512)\n"
            "import fastscnn_edge.bench, fastscnn_edge.export, fastscnn_edge.serve.predict  # the packages do not hide the API\n"
            "assert callable(fe.benchmark) and callable(fe.export_model) and callable(fe.predict_files)\n")
    p = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, timeout=120)
    assert p.returncode == 0, p.stderr
