"""mypy type-checks the TensorRT module against the installed ``tensorrt-stubs`` (10.x API).

The stubs as shipped cannot be used directly: the ``tensorrt`` folder has no ``py.typed`` (mypy
skips it, so ``--ignore-missing-imports`` alone checks nothing) and ``tensorrt_bindings/tensorrt.pyi``
has a few syntax errors (parameters named ``in``; a non-default parameter after defaults). The test
copies them, repairs exactly those, and puts the copy on MYPYPATH. A probe with a wrong attribute
proves the stubs are really in effect.
"""

import importlib.util
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[3]
CONFIG = """
[mypy]
ignore_missing_imports = True
warn_unused_ignores = True
follow_imports = silent
cache_dir = {cache}
[mypy-torch.*,onnx.*,onnxruntime.*,cv2.*,rich.*,typer.*]
follow_imports = skip
[mypy-tensorrt.*,tensorrt_bindings.*]
ignore_errors = True
"""


@pytest.fixture(scope="module")
def stubs(tmp_path_factory):
    if importlib.util.find_spec("mypy") is None:
        pytest.skip("mypy is not installed")
    spec = importlib.util.find_spec("tensorrt_stubs")
    if spec is None or spec.origin is None:
        pytest.skip("tensorrt-stubs is not installed")
    site = Path(spec.origin).parents[1]
    out = tmp_path_factory.mktemp("stubs")
    for pkg in ("tensorrt", "tensorrt_bindings"):
        (out / pkg).mkdir()
        for f in (site / pkg).glob("*.pyi"):
            text = re.sub(r"\bin: ", "in_: ", f.read_text(encoding="utf-8"))
            text = re.sub(r"(, channel_axis: int)\)", r"\1 = ...)", text)
            (out / pkg / f.name).write_text(text, encoding="utf-8")
    cfg = out / "mypy.ini"
    cfg.write_text(CONFIG.format(cache=out / ".mypy_cache"))
    return out, cfg


def _mypy(stubs, *targets):
    out, cfg = stubs
    env = {**os.environ, "MYPYPATH": str(out)}
    return subprocess.run([sys.executable, "-m", "mypy", "--config-file", str(cfg), *map(str, targets)],
                          cwd=REPO, env=env, capture_output=True, text=True, timeout=600)


def test_trt_package_typechecks_against_the_stubs(stubs, tmp_path):
    probe = tmp_path / "probe.py"
    probe.write_text("import tensorrt as trt\n\ndef f(b: trt.Builder) -> None:\n    b.no_such_method()\n")
    p = _mypy(stubs, "fastscnn_edge/runtime/trt", "fastscnn_edge/runtime/cuda_buffers.py", probe)
    # the probe must fail (stubs in effect) and nothing else may
    errors = [ln for ln in p.stdout.splitlines() if ": error:" in ln]
    assert any("probe.py" in e and "no_such_method" in e for e in errors), p.stdout[-3000:]
    others = [e for e in errors if "probe.py" not in e]
    assert others == [], "\n".join(others)
