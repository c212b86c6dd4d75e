"""serving: finding Triton and its ports, refused in one line before a server starts (the server
itself runs in tests/serve/test_triton.py)."""

import socket

import pytest

from fastscnn_edge.core.errors import MissingDependency, UserError
from fastscnn_edge.serve import triton_server as serving


def test_a_free_port_is_free_and_a_listening_one_is_refused():
    port = serving.free_port()
    serving.check_port("127.0.0.1", port, "http")  # nothing listens there
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        s.listen(1)
        busy = s.getsockname()[1]
        with pytest.raises(UserError) as e:
            serving.check_port("127.0.0.1", busy, "grpc")
    assert f"port {busy} on 127.0.0.1 (grpc) is in use" in e.value.cause and "--grpc-port" in e.value.fix


def test_no_triton_is_one_line_naming_where_it_looked(tmp_path, monkeypatch):
    monkeypatch.delenv("FASTSCNN_EDGE_TRITON_ENV", raising=False)
    monkeypatch.chdir(tmp_path)
    empty = tmp_path / "not-an-env"
    empty.mkdir()
    try:
        found = serving.find_triton(empty)
    except MissingDependency as e:
        assert "no Triton Inference Server found" in e.cause and str(empty) in e.cause
    else:  # the checkout's .venv-triton (or this interpreter) has one: then it is complete
        assert found.binary.is_file() and found.stub.is_file()
