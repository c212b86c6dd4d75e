"""A local Triton Inference Server: the ``tritonserver`` binary that ships in the ``nvidia-pytriton`` wheel.

That binary has only Triton's Python backend, whose stub embeds the Python of the environment it
runs from, so it lives in a virtual environment of its own (``bash scripts/setup-triton.sh`` makes
``.venv-triton`` from Debian's ``/usr/bin/python3.11``, with numpy < 2 as PyTriton pins it, and
onnxruntime). This module finds that environment, starts the server on loopback with the ports
asked for (0: a free one), waits until it is ready, and stops it; nothing here imports PyTriton.

``start_server(repo)`` -> :class:`TritonServer` (a context manager); ``serve(...)`` is what
``fastscnn-edge serve`` runs: a Python-backend repository for the artifacts, a server, the
addresses and a client example, until Ctrl-C.
"""

from __future__ import annotations

import contextlib
import errno
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Dict, Iterator, List, Optional, Sequence

from fastscnn_edge.core.errors import MissingDependency, UserError

ENV_VAR = "FASTSCNN_EDGE_TRITON_ENV"
DEFAULT_ENV_NAME = ".venv-triton"
DEFAULT_PORTS = {"http": 8000, "grpc": 8001, "metrics": 8002}  # Triton's own defaults
SETUP_FIX = "run `bash scripts/setup-triton.sh` (it makes .venv-triton with nvidia-pytriton), or point " \
            f"${ENV_VAR} at a virtual environment that has nvidia-pytriton, numpy and onnxruntime."


@dataclass
class TritonInstall:
    """Where the bundled server is: the environment, its Python version, the binary and its libraries."""

    env: Path
    python_version: str  # "3.11": picks the Python-backend stub
    server_root: Path  # .../site-packages/pytriton/tritonserver
    libs: Path  # .../site-packages/nvidia_pytriton.libs

    @property
    def binary(self) -> Path:
        return self.server_root / "bin" / "tritonserver"

    @property
    def stub(self) -> Path:
        return self.server_root / "python_backend_stubs" / self.python_version / "triton_python_backend_stub"


def _candidate_envs(explicit: Optional[str | Path]) -> List[Path]:
    if explicit:
        return [Path(explicit)]
    if os.environ.get(ENV_VAR):
        return [Path(os.environ[ENV_VAR])]
    project_root = Path(__file__).resolve().parents[2]  # an editable install: the checkout
    envs = [Path.cwd() / DEFAULT_ENV_NAME, project_root / DEFAULT_ENV_NAME, Path(sys.prefix)]
    out: List[Path] = []
    for e in envs:
        if e not in out:
            out.append(e)
    return out


def _install_in(env: Path) -> Optional[TritonInstall]:
    for site in sorted(env.glob("lib/python3.*/site-packages")):
        root = site / "pytriton" / "tritonserver"
        if (root / "bin" / "tritonserver").is_file():
            return TritonInstall(env, site.parent.name[len("python"):], root, site / "nvidia_pytriton.libs")
    return None


def find_triton(env: Optional[str | Path] = None) -> TritonInstall:
    """The Triton environment: ``env``, else ``$FASTSCNN_EDGE_TRITON_ENV``, else ``.venv-triton`` (here or
    in the checkout), else the running interpreter's; MissingDependency where none has the server."""
    tried = _candidate_envs(env)
    for e in tried:
        found = _install_in(e)
        if found is not None:
            if not found.stub.is_file():
                raise UserError(f"the Triton in {e} has no Python-backend stub for Python {found.python_version}.",
                                fix="recreate the environment with Python 3.8-3.13: " + SETUP_FIX)
            return found
    raise MissingDependency(f"no Triton Inference Server found (looked in {', '.join(str(t) for t in tried)}).",
                            fix=SETUP_FIX)


# ---------------------------------------------------------------------------------------------
# ports


def free_port(host: str = "127.0.0.1") -> int:
    """A TCP port that is free on ``host`` now (the OS picks it)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((host, 0))
        return int(s.getsockname()[1])


def check_port(host: str, port: int, what: str) -> None:
    """UserError (one line) where ``port`` on ``host`` cannot be listened on."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        # As the server will: a port left in TIME_WAIT by a stopped server is free, a listening one is not.
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind((host, port))
            s.listen(1)
        except OSError as exc:
            if exc.errno == errno.EADDRINUSE:
                raise UserError(f"port {port} on {host} ({what}) is in use.",
                                fix=f"stop what listens there, pick another --{what}-port, or pass 0 for a free one.") from None
            raise UserError(f"cannot listen on {host}:{port} ({what}): {exc.strerror}.",
                            fix="use --host 127.0.0.1 and a port above 1023, or 0 for a free one.") from None


def _ports(host: str, http: int, grpc: int, metrics: int) -> Dict[str, int]:
    asked = {"http": http, "grpc": grpc, "metrics": metrics}
    for what, port in asked.items():
        if port < 0 or port > 65535:
            raise UserError(f"--{what}-port {port} is not a port.", fix="pass 1..65535, or 0 for a free one.")
        if port:
            check_port(host, port, what)
    taken = {p for p in asked.values() if p}
    if len(taken) < len([p for p in asked.values() if p]):
        raise UserError(f"the HTTP, gRPC and metrics ports must differ ({http}, {grpc}, {metrics}).",
                        fix="pass three different ports, or 0 for free ones.")
    out: Dict[str, int] = {}
    for what, port in asked.items():
        while not port or port in out.values():
            port = free_port(host)
        out[what] = port
    return out


# ---------------------------------------------------------------------------------------------
# the server


class TritonServer:
    """A running ``tritonserver``; ``stop()`` (or leaving the ``with`` block) ends it and its stubs."""

    def __init__(self, process: subprocess.Popen, host: str, ports: Dict[str, int], workdir: Path,
                 log_path: Path, repo: Path) -> None:
        self.process = process
        self.host = host
        self.ports = ports
        self.workdir = workdir
        self.log_path = log_path
        self.repo = repo
        self.keep_log = False  # a failed start keeps its log for the error message's reader

    @property
    def http_url(self) -> str:
        """``host:port`` of the HTTP/REST endpoint (what ``tritonclient.http`` takes)."""
        return f"{self.host}:{self.ports['http']}"

    @property
    def grpc_url(self) -> str:
        return f"{self.host}:{self.ports['grpc']}"

    @property
    def metrics_url(self) -> str:
        return f"http://{self.host}:{self.ports['metrics']}/metrics"

    def alive(self) -> bool:
        return self.process.poll() is None

    def stop(self, timeout: float = 15.0) -> int:
        """Ask the server to shut down (SIGINT), kill its process group after ``timeout`` s; exit code."""
        if self.process.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                self.process.send_signal(signal.SIGINT)
            try:
                self.process.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(self.process.pid, signal.SIGKILL)  # its own session: the server and its stubs
                self.process.wait(timeout=10)
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self.process.pid, signal.SIGKILL)  # stubs the server left behind, if any
        shutil.rmtree(self.workdir / "backends" if self.keep_log else self.workdir, ignore_errors=True)
        return int(self.process.returncode or 0)

    def __enter__(self) -> "TritonServer":
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def _backends_dir(install: TritonInstall, workdir: Path) -> Path:
    """A backends folder whose Python backend has the stub for the environment's Python (as PyTriton does)."""
    py = workdir / "backends" / "python"
    py.mkdir(parents=True)
    for f in (install.server_root / "backends" / "python").iterdir():
        if f.is_file():
            os.symlink(f, py / f.name)
    os.symlink(install.stub, py / "triton_python_backend_stub")
    return workdir / "backends"


def _server_env(install: TritonInstall) -> Dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONHOME", "PYTHONPATH", "VIRTUAL_ENV")}
    env["LD_LIBRARY_PATH"] = ":".join(p for p in (str(install.libs), env.get("LD_LIBRARY_PATH", "")) if p)
    # The stub embeds libpython and finds its prefix (so site-packages) from `python3` on PATH.
    env["PATH"] = f"{install.env / 'bin'}:{env.get('PATH', '/usr/bin:/bin')}"
    env["VIRTUAL_ENV"] = str(install.env)
    return env


_ERROR_LINE = re.compile(r"^E\d{4} ")


_HARMLESS = ("CudaDriverHelper", "NVML", "DCGM", "CUDA", "cuda", "GPU metrics", "pinned memory")


def _first_error(log: Path) -> str:
    """The line of the server's log that says why it stopped: a model that failed to load, else the first error."""
    try:
        lines = log.read_text(encoding="utf-8", errors="replace").splitlines()
    except OSError:
        return ""
    errors = [ln for ln in lines if _ERROR_LINE.match(ln) and not any(h in ln for h in _HARMLESS)]
    loads = [ln for ln in errors if "failed to load" in ln]
    line = (loads or errors or [ln for ln in lines if "error:" in ln.lower()] or [""])[0]
    line = re.sub(r"^E\d{4} [\d:.]+ +\d+ \S+\] ", "", line).strip().strip('"')
    return line.split("\\n")[0].strip()[:300]


_NO_PROXY = urllib.request.build_opener(urllib.request.ProxyHandler({}))  # an http_proxy must not see loopback


def _ready(host: str, port: int) -> bool:
    try:
        with _NO_PROXY.open(f"http://{host}:{port}/v2/health/ready", timeout=1.0) as r:
            return r.status == 200
    except (urllib.error.URLError, OSError, ValueError):
        return False


def _die_with_parent() -> None:  # pragma: no cover - runs in the child before exec
    """Linux: the server gets SIGTERM (a clean shutdown) when the process that started it dies, even by SIGKILL."""
    try:
        import ctypes

        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        pass


def start_server(repo: str | Path, *, host: str = "127.0.0.1", http_port: int = 0, grpc_port: int = 0,
                 metrics_port: int = 0, timeout: float = 60.0, env: Optional[str | Path] = None,
                 log_verbose: int = 0) -> TritonServer:
    """Start ``tritonserver --model-repository repo`` on ``host``; return once every model is ready.

    Ports: 0 picks a free one. UserError (one line) where a port is in use, the server exits during
    start-up (the first error of its log, e.g. a model that failed to load), or it is not ready within
    ``timeout`` seconds (then it is stopped). The log is ``server.log_path``. On Linux the server
    also stops when the calling thread's process dies, so call this from the main thread.
    """
    repo = Path(repo)
    if not repo.is_dir():
        raise UserError(f"model repository {repo} is not a folder.", fix="write one with `fastscnn-edge triton`.")
    install = find_triton(env)
    ports = _ports(host, http_port, grpc_port, metrics_port)
    workdir = Path(tempfile.mkdtemp(prefix="fastscnn-edge-triton-"))
    log_path = workdir / "tritonserver.log"
    cmd = [str(install.binary), f"--model-repository={repo.resolve()}",
           f"--backend-directory={_backends_dir(install, workdir)}",
           f"--cache-directory={install.server_root / 'caches'}",
           f"--http-address={host}", f"--http-port={ports['http']}",
           f"--grpc-address={host}", f"--grpc-port={ports['grpc']}",
           f"--metrics-address={host}", f"--metrics-port={ports['metrics']}",
           "--allow-gpu-metrics=false", "--exit-on-error=true", "--strict-readiness=true",
           "--exit-timeout-secs=3", f"--log-verbose={int(log_verbose)}"]
    with open(log_path, "wb") as log:
        process = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                   env=_server_env(install), start_new_session=True,
                                   preexec_fn=_die_with_parent if sys.platform.startswith("linux") else None)
    server = TritonServer(process, host, ports, workdir, log_path, repo)
    deadline = time.monotonic() + timeout
    try:
        while True:
            if process.poll() is not None:
                raise UserError(f"Triton exited during start-up (code {process.returncode}): "
                                f"{_first_error(log_path) or 'no error in its log'}",
                                fix=f"see the full log {log_path}.")
            if _ready(host, ports["http"]):
                return server
            if time.monotonic() >= deadline:
                raise UserError(f"Triton was not ready within {timeout:g} s (models still loading).",
                                fix=f"raise --timeout, or see the log {log_path}.")
            time.sleep(0.2)
    except BaseException:
        server.keep_log = True
        server.stop(timeout=5)
        raise


# ---------------------------------------------------------------------------------------------
# `fastscnn-edge serve`


@contextlib.contextmanager
def _sigterm_as_interrupt() -> Iterator[None]:
    def handler(signum: int, frame: object) -> None:
        raise KeyboardInterrupt

    try:
        previous = signal.signal(signal.SIGTERM, handler)
    except ValueError:  # not the main thread: leave signals alone
        yield
        return
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def serve(artifacts: Sequence[str | Path], *, repo: Optional[Path] = None, force: bool = False,
          host: str = "127.0.0.1", http_port: int = DEFAULT_PORTS["http"], grpc_port: int = DEFAULT_PORTS["grpc"],
          metrics_port: int = DEFAULT_PORTS["metrics"], timeout: float = 60.0, env: Optional[str | Path] = None,
          instances: int = 1, max_batch: int = 8, dynamic_batching: bool = True, threads: Optional[int] = None,
          echo: Callable[[str], None] = print, wait: Callable[[TritonServer], None] | None = None) -> int:
    """Serve ONNX ``artifacts`` (Python-backend form) until Ctrl-C; return the server's exit code.

    ``repo``: keep the repository there (default: a temporary one, removed afterwards). ``wait``
    replaces waiting for Ctrl-C (tests).
    """
    from fastscnn_edge.serve.triton import write_repository
    from fastscnn_edge.serve.triton_templates import client_example

    find_triton(env)  # a missing server or a busy port says so before anything is written
    for what, port in (("http", http_port), ("grpc", grpc_port), ("metrics", metrics_port)):
        if port:
            check_port(host, port, what)
    tmp_repo = repo is None
    target = Path(tempfile.mkdtemp(prefix="fastscnn-edge-repo-")) / "models" if repo is None else Path(repo)
    try:
        result = write_repository(artifacts, target, force=force, backend="python", kind="cpu",
                                  instances=instances, max_batch=max_batch, dynamic_batching=dynamic_batching,
                                  threads=threads)
        t0 = time.perf_counter()
        echo(f"starting Triton on {host} with {len(result.models)} model(s) ...")
        server = start_server(result.path, host=host, http_port=http_port, grpc_port=grpc_port,
                              metrics_port=metrics_port, timeout=timeout, env=env)
        try:
            first = result.models[0]
            echo(f"Triton ready in {time.perf_counter() - t0:.1f} s: HTTP {server.http_url}  gRPC {server.grpc_url}  "
                 f"metrics {server.metrics_url}")
            echo("models: " + ", ".join(f"{m.name} ({m.config.inputs[0][0]} {m.config.inputs[0][1][5:]} "
                                        f"{m.config.inputs[0][2]}, max_batch_size {m.config.max_batch_size})"
                                        for m in result.models))
            echo(f"repository: {result.path}  log: {server.log_path}")
            echo("client example (Python, pip install 'tritonclient[http]' opencv-python-headless):\n")
            echo(client_example(server.http_url, first.name, first.infos[0]))
            echo("Ctrl-C stops the server.")
            with _sigterm_as_interrupt():  # `kill`, `timeout`, a container stop: shut the server down too
                if wait is not None:
                    wait(server)
                else:
                    while server.alive():
                        time.sleep(0.5)
                    raise UserError(f"Triton stopped by itself (code {server.process.returncode}).",
                                    fix=f"see the log {server.log_path}.")
        except KeyboardInterrupt:
            pass
        finally:
            code = server.stop()
        echo(f"stopped Triton (exit code {code})")
        return code
    finally:
        if tmp_repo:
            shutil.rmtree(target.parent, ignore_errors=True)
