"""The public-checkpoint registry and the verified download (local file:// and 127.0.0.1 only)."""

from __future__ import annotations

import hashlib
import http.server
import socket
import threading
from pathlib import Path

import pytest

from fastscnn_edge.core.errors import UserError
from fastscnn_edge.model import registry

PAYLOAD = b"fast-scnn weights " * 5000


def _sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


@pytest.fixture()
def server(tmp_path):
    """An http.server on 127.0.0.1 serving tmp_path/www in a thread; yields its base URL."""
    root = tmp_path / "www"
    root.mkdir()

    class Handler(http.server.SimpleHTTPRequestHandler):
        def __init__(self, *a, **kw):
            super().__init__(*a, directory=str(root), **kw)

        def log_message(self, *args):  # keep pytest output clean
            pass

    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield root, f"http://127.0.0.1:{httpd.server_address[1]}"
    finally:
        httpd.shutdown()
        httpd.server_close()


def _leftovers(folder: Path) -> list:
    return sorted(p.name for p in folder.iterdir()) if folder.exists() else []


def _one_line(exc: pytest.ExceptionInfo) -> str:
    text = str(exc.value)
    assert "\n" not in text and "Fix:" in text, text
    return text


def test_registry_entries_carry_what_the_docs_promise():
    mm = registry.get("mmseg-cityscapes")
    assert mm.miou == 70.96 and mm.source == "mmseg" and mm.sha256_prefix == "0cec9937"
    assert mm.url.startswith("https://download.openmmlab.com/mmsegmentation/v0.5/fast_scnn/")
    assert mm.url.endswith("/" + mm.filename) and mm.filename.endswith("-0cec9937.pth")
    tr = registry.get("tramac-cityscapes")
    assert tr.miou == 54.84 and tr.source == "tramac" and tr.filename == "fast_scnn_citys.pth"
    assert all(w.num_classes == 19 and w.licence for w in registry.REGISTRY.values())
    with pytest.raises(UserError) as exc:
        registry.get("nope")
    assert "weights list" in _one_line(exc)


def test_file_url_with_good_hash(tmp_path):
    src = tmp_path / "src" / "w.pth"
    src.parent.mkdir()
    src.write_bytes(PAYLOAD)
    out = registry.download(src.as_uri(), tmp_path / "dl", sha256=_sha(PAYLOAD))
    assert out == tmp_path / "dl" / "w.pth" and out.read_bytes() == PAYLOAD
    assert _leftovers(tmp_path / "dl") == ["w.pth"]


def test_http_download_good_hash_and_skip_when_present(tmp_path, server):
    root, base = server
    (root / "w.pth").write_bytes(PAYLOAD)
    seen = []
    out = registry.download(f"{base}/w.pth", tmp_path / "dl", sha256=_sha(PAYLOAD),
                            progress=lambda task, done, total: seen.append((task, done, total)))
    assert seen and seen[-1] == ("downloading w.pth", len(PAYLOAD), len(PAYLOAD))
    assert out.read_bytes() == PAYLOAD
    (root / "w.pth").unlink()  # a verified file already there is not fetched again
    assert registry.download(f"{base}/w.pth", tmp_path / "dl", sha256=_sha(PAYLOAD)) == out


def test_bad_hash_is_refused_and_nothing_is_left(tmp_path, server):
    root, base = server
    (root / "w.pth").write_bytes(PAYLOAD)
    with pytest.raises(UserError) as exc:
        registry.download(f"{base}/w.pth", tmp_path / "dl", sha256="0" * 64)
    assert "refused" in _one_line(exc)
    assert _leftovers(tmp_path / "dl") == []


def test_file_name_hash_prefix_is_checked(tmp_path, server):
    root, base = server
    good = f"model_20210630-{_sha(PAYLOAD)[:8]}.pth"
    bad = "model_20210630-0cec9937.pth"
    (root / good).write_bytes(PAYLOAD)
    (root / bad).write_bytes(PAYLOAD)
    assert registry.download(f"{base}/{good}", tmp_path / "dl").name == good
    with pytest.raises(UserError) as exc:
        registry.download(f"{base}/{bad}", tmp_path / "dl")
    assert "does not start with 0cec9937" in _one_line(exc)
    assert _leftovers(tmp_path / "dl") == [good]


def test_404_and_unreachable_give_one_line(tmp_path, server):
    _, base = server
    with pytest.raises(UserError) as exc:
        registry.download(f"{base}/missing.pth", tmp_path / "dl")
    assert "HTTP 404" in _one_line(exc)
    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    with pytest.raises(UserError) as exc:
        registry.download(f"http://127.0.0.1:{port}/w.pth", tmp_path / "dl")
    assert "cannot reach" in _one_line(exc)
    assert _leftovers(tmp_path / "dl") == []


def test_registry_name_downloads_into_the_env_folder(tmp_path, server, monkeypatch):
    root, base = server
    name = f"local-{_sha(PAYLOAD)[:8]}.pth"
    (root / name).write_bytes(PAYLOAD)
    entry = registry.PublicWeights(name="local", url=f"{base}/{name}", filename=name, source="tramac",
                                   num_classes=19, miou=1.0, licence="test", notes="", sha256=_sha(PAYLOAD))
    monkeypatch.setitem(registry.REGISTRY, "local", entry)
    monkeypatch.setenv(registry.WEIGHTS_DIR_ENV, str(tmp_path / "envdir"))
    assert registry.download("local") == tmp_path / "envdir" / name


def test_weights_cli_list_and_download(tmp_path, server):
    from typer.testing import CliRunner

    from fastscnn_edge.cli import app

    r = CliRunner().invoke(app, ["weights", "list"])
    assert r.exit_code == 0, r.output
    assert "mmseg-cityscapes" in r.output and "70.96" in r.output and "0cec9937" in r.output

    root, base = server
    (root / "w.pth").write_bytes(PAYLOAD)
    r = CliRunner().invoke(app, ["weights", "download", f"{base}/w.pth", "--dir", str(tmp_path / "d"),
                                 "--sha256", _sha(PAYLOAD)])
    assert r.exit_code == 0, r.output
    assert (tmp_path / "d" / "w.pth").is_file() and "import-weights" in r.output

    r = CliRunner().invoke(app, ["weights", "download", f"{base}/w.pth", "--import", "--dir", str(tmp_path / "e")])
    assert isinstance(r.exception, UserError) and "--from" in str(r.exception)
    assert not (tmp_path / "e").exists()


def test_registry_and_weights_list_work_without_torch():
    """The registry and `weights list` are on the torch-free path (a Jetson may only fetch files)."""
    import subprocess
    import sys
    import textwrap

    code = textwrap.dedent("""
        import sys, importlib.abc
        class Block(importlib.abc.MetaPathFinder):
            def find_spec(self, name, path=None, target=None):
                if name.split(".")[0] in {"torch", "tensorrt"}:
                    raise ModuleNotFoundError(f"No module named {name!r} (blocked)", name=name)
        sys.meta_path.insert(0, Block())
        from fastscnn_edge.cli import main
        for args in (["import-weights", "--help"], ["weights", "download", "--help"], ["info", "--help"]):
            try:
                main(args)
            except SystemExit as e:
                assert e.code == 0, (args, e.code)
        main(["weights", "list"])
    """)
    p = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120,
                       cwd=Path(__file__).resolve().parents[2])
    assert p.returncode == 0, p.stderr[-2000:]
    assert "tramac-cityscapes" in p.stdout and "--from" in p.stdout
