"""The CLI shell: lazy heavy imports, one-line errors, exit codes, export end to end."""

import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from fastscnn_edge.runtime import ov_runtime

REPO = Path(__file__).resolve().parents[1]

BLOCKER = textwrap.dedent("""
    import sys, importlib.abc
    BLOCKED = {"torch", "tensorrt", "torchvision"}
    class Block(importlib.abc.MetaPathFinder):
        def find_spec(self, name, path=None, target=None):
            if name.split(".")[0] in BLOCKED:
                raise ModuleNotFoundError(f"No module named {name!r} (blocked by test)", name=name)
            return None
    sys.meta_path.insert(0, Block())
""")


def _run_blocked(code: str, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", BLOCKER + textwrap.dedent(code), *args], cwd=REPO,
                          capture_output=True, text=True, timeout=120)


def test_help_and_import_work_without_torch_and_tensorrt():
    p = _run_blocked("""
        import fastscnn_edge, fastscnn_edge.runtime.backends, fastscnn_edge.core.metadata, fastscnn_edge.data.preprocess
        from fastscnn_edge.cli import main
        assert "torch" not in sys.modules and "tensorrt" not in sys.modules
        sys.argv = ["fastscnn-edge", "--help"]
        main(["--help"])
    """)
    assert p.returncode == 0, p.stderr
    assert "export" in p.stdout and "Usage" in p.stdout


def test_every_subcommand_help_works_without_torch():
    from fastscnn_edge.cli import app, COMMAND_MODULES  # noqa: F401

    import typer.main

    names = sorted(typer.main.get_command(app).commands)  # type: ignore[attr-defined]
    assert "export" in names
    for name in names:
        p = _run_blocked(f"""
            from fastscnn_edge.cli import main
            main([{name!r}, "--help"])
        """)
        assert p.returncode == 0, (name, p.stderr[-2000:])
        assert "torch" not in p.stderr


def test_runtime_path_runs_an_onnx_without_torch(tmp_path):
    """The Jetson path: load and run an exported model with torch blocked."""
    from fastscnn_edge.export.to_onnx import ExportSpec, export_onnx

    r = export_onnx(ExportSpec(head="cls", res=(64, 128), input_format="bgr8", output=tmp_path / "m.onnx"))
    p = _run_blocked(f"""
        import numpy as np
        from fastscnn_edge.runtime.backends import open_runner
        for backend in ("onnxruntime", "auto"):
            with open_runner({str(r.path)!r}, backend=backend) as run:
                x = run.preprocess(np.zeros((100, 150, 3), np.uint8))
                y = run(x)
            assert y.shape == (1, 64, 128) and y.dtype == np.uint8, (y.shape, y.dtype)
            print("ok", run.description)
        assert "torch" not in sys.modules
    """)
    assert p.returncode == 0, p.stderr
    lines = p.stdout.splitlines()
    assert lines[0].startswith("ok onnxruntime")
    # auto: the documented CPU rule (OpenVINO where installed), still without torch
    assert lines[1].startswith("ok openvino" if ov_runtime.available() else "ok onnxruntime")


def _cli(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "fastscnn_edge", *args], cwd=cwd, capture_output=True,
                          text=True, timeout=300, env={**__import__("os").environ, "PYTHONPATH": str(REPO)})


@pytest.mark.parametrize("args, needle, code", [
    (["export", "--res", "100x200"], "not a multiple of 32", 2),
    (["export", "--head", "argmax"], "unknown head", 2),
    (["export", "--input", "nv12"], "unknown input format", 2),
    (["export", "--weights", "missing.pt"], "does not exist", 2),
    (["export", "--bogus"], "No such option", 2),
    (["export", "--res", "64x128", "-o", "/proc/forbidden/x.onnx"], "Fix:", 2),
])
def test_bad_input_gives_one_line_and_no_traceback(tmp_path, args, needle, code):
    p = _cli(*args, cwd=tmp_path)
    assert p.returncode == code, p.stderr
    lines = [ln for ln in p.stderr.splitlines() if ln.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: ") and needle in lines[0], p.stderr
    assert "Traceback" not in p.stderr
    assert not (tmp_path / "artifacts").exists() or not any((tmp_path / "artifacts").iterdir())


def test_debug_variable_shows_traceback(tmp_path):
    import os

    p = subprocess.run([sys.executable, "-m", "fastscnn_edge", "export", "--res", "100x200"], cwd=tmp_path,
                       capture_output=True, text=True, timeout=120,
                       env={**os.environ, "PYTHONPATH": str(REPO), "FASTSCNN_EDGE_DEBUG": "1"})
    assert p.returncode != 0 and "Traceback" in p.stderr


def test_export_cli_writes_where_the_next_command_looks(tmp_path):
    p = _cli("export", "--res", "64x128", "--head", "prob", cwd=tmp_path)
    assert p.returncode == 0, p.stderr
    out = tmp_path / "artifacts" / "fastscnn_paper_prob_64x128.onnx"
    assert out.exists()
    assert "max |diff|" in p.stdout and "next: fastscnn-edge build-engine" in p.stdout


def test_random_weights_are_said_in_one_line_by_export_bench_and_predict(tmp_path, capsys):
    """No silent substitutes: a model without trained weights says so, and where trained ones are."""
    import cv2
    import numpy as np

    from fastscnn_edge.cli import main

    def run(*args):  # noqa: ANN002, ANN202
        with pytest.raises(SystemExit) as e:
            main([str(a) for a in args])
        cap = capsys.readouterr()
        return e.value.code, cap.err

    onnx = tmp_path / "m.onnx"
    img = tmp_path / "a.png"
    cv2.imwrite(str(img), np.zeros((64, 128, 3), np.uint8))
    for args in (("export", "--res", "64x128", "-o", onnx),
                 ("bench", onnx, "--iters", "2", "--warmup", "0"),
                 ("predict", onnx, img, "-o", tmp_path / "pred")):
        code, err = run(*args)
        notes = [ln for ln in err.splitlines() if "randomly initialised weights" in ln]
        assert code == 0 and len(notes) == 1, (args, err)
        assert "models/demo/" in notes[0] and "fastscnn-edge weights" in notes[0]
    demo = REPO / "models" / "demo" / "fastscnn_synth.pt"
    trained = tmp_path / "t.onnx"
    code, err = run("export", "--weights", demo, "--res", "64x128", "-o", trained)
    assert code == 0 and "randomly initialised" not in err
    code, out = run("info", trained)
    assert code == 0 and "randomly" not in out


def _all_options():
    """(command path, option names) for every option of every command."""
    import typer.main

    from fastscnn_edge.cli import app

    root = typer.main.get_command(app)
    out = []

    def walk(cmd, path):  # noqa: ANN001
        for p in getattr(cmd, "params", []):
            if getattr(p, "param_type_name", "") == "option":
                out.append((path, tuple(p.opts) + tuple(p.secondary_opts)))
        for name, sub in getattr(cmd, "commands", {}).items():
            walk(sub, f"{path} {name}".strip())

    walk(root, "")
    return out


def test_each_short_flag_has_one_meaning_across_commands():
    shorts = {}
    for path, names in _all_options():
        longs = [n for n in names if n.startswith("--")]
        for n in names:
            if len(n) == 2 and n.startswith("-") and n not in ("-h",):
                shorts.setdefault(n, set()).update(longs)
    clashes = {s: sorted(longs) for s, longs in shorts.items() if len(longs) != 1}
    assert clashes == {}, clashes
    assert shorts["-d"] == {"--device"} and shorts["-b"] == {"--backend"} and shorts["-n"] == {"--limit"}


def test_once_ambiguous_names_have_one_meaning():
    where = {}
    for path, names in _all_options():
        for n in names:
            where.setdefault(n, set()).add(path)
    assert where["--format"] == {"predict"}  # what predict writes; a dataset's layout is --data-format
    assert where["--target"] == {"build-engine"}  # a deployment device; quantize's Q/DQ kind is --form
    assert "--out" not in where  # every output location is --output / -o
