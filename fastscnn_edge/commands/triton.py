"""`fastscnn-edge triton` (a Triton model repository) and `fastscnn-edge serve` (a local Triton server)."""

from __future__ import annotations

from pathlib import Path
from typing import List, Optional

import typer

_BATCH_HELP = "Largest batch Triton forms, where the artifact has a dynamic batch dimension."


def triton_cmd(
    artifacts: List[Path] = typer.Argument(..., help="ONNX files and/or TensorRT engines (with their sidecar JSON)."),
    output: Path = typer.Option(..., "--output", "-o", help="The model repository folder to write (new or empty)."),
    name: Optional[str] = typer.Option(None, "--name", help="One model NAME whose versions 1..N are the artifacts, in order "
                                                            "(default: one model per artifact, named after the file)."),
    backend: str = typer.Option("auto", "--backend", help="auto: tensorrt_plan / onnxruntime_onnx; python: ONNX run by "
                                                          "onnxruntime in Triton's Python backend (what `serve` uses); openvino: ONNX on Triton's OpenVINO backend (CPU instances; a dense cls head written in its refined form)."),
    kind: str = typer.Option("auto", "--kind", help="Instance kind: auto (GPU for engines, CPU for ONNX) | gpu | cpu."),
    instances: int = typer.Option(1, "--instances", help="Model instances (instance_group count)."),
    max_batch: int = typer.Option(8, "--max-batch", help=_BATCH_HELP),
    no_dynamic_batching: bool = typer.Option(False, "--no-dynamic-batching", help="Run each request as sent."),
    queue_delay_us: int = typer.Option(2000, "--queue-delay-us", help="Dynamic batching: longest wait for a fuller batch (microseconds)."),
    threads: Optional[int] = typer.Option(None, "--threads", help="onnxruntime intra-op threads per instance (ONNX)."),
    force: bool = typer.Option(False, "--force", help="Replace an existing model repository at -o."),
) -> None:
    """Write a Triton Inference Server model repository (config.pbtxt, labels, model files) from artifacts."""
    import time

    from fastscnn_edge.core.fileio import human_size
    from fastscnn_edge.serve.triton import write_repository

    t0 = time.perf_counter()
    result = write_repository(artifacts, output, force=force, name=name, backend=backend, kind=kind,
                              instances=instances, max_batch=max_batch, dynamic_batching=not no_dynamic_batching,
                              queue_delay_us=queue_delay_us, threads=threads)
    for m in result.models:
        c = m.config
        batching = (f"max_batch_size {c.max_batch_size}" + (", dynamic batching" if c.dynamic_batching else "")
                    if c.max_batch_size else "static batch (max_batch_size 0)")
        typer.echo(f"  {m.name}: {c.platform or f'{c.backend} backend'}, {len(m.infos)} version(s), {batching}, "
                   f"{c.instances}x {c.kind}")
    typer.echo(f"wrote Triton repository {result.path} ({len(result.models)} model(s), {human_size(result.size_bytes)}) "
               f"in {time.perf_counter() - t0:.1f} s -> next: tritonserver --model-repository {result.path}"
               + ("  (or here: fastscnn-edge serve ONNX)" if any(m.infos[0].kind == "onnx" for m in result.models) else ""))


def serve_cmd(
    artifacts: List[Path] = typer.Argument(..., help="ONNX file(s) to serve (onnxruntime on the CPU, in Triton's Python backend)."),
    host: str = typer.Option("127.0.0.1", "--host", help="Address to listen on (loopback by default)."),
    http_port: int = typer.Option(8000, "--http-port", help="HTTP/REST port (0: a free one)."),
    grpc_port: int = typer.Option(8001, "--grpc-port", help="gRPC port (0: a free one)."),
    metrics_port: int = typer.Option(8002, "--metrics-port", help="Prometheus metrics port (0: a free one)."),
    timeout: float = typer.Option(60.0, "--timeout", help="Seconds to wait for the server and its models to be ready."),
    repo: Optional[Path] = typer.Option(None, "--repo", help="Keep the model repository here (default: a temporary one)."),
    force: bool = typer.Option(False, "--force", help="Replace an existing model repository at --repo."),
    instances: int = typer.Option(1, "--instances", help="Model instances."),
    max_batch: int = typer.Option(8, "--max-batch", help=_BATCH_HELP),
    no_dynamic_batching: bool = typer.Option(False, "--no-dynamic-batching", help="Run each request as sent."),
    threads: Optional[int] = typer.Option(None, "--threads", help="onnxruntime intra-op threads per instance."),
    triton_env: Optional[Path] = typer.Option(None, "--triton-env", help="Environment with nvidia-pytriton (default: .venv-triton)."),
) -> None:
    """Serve ONNX models with a local Triton Inference Server until Ctrl-C; prints the addresses and a client example."""
    from fastscnn_edge.serve.triton_server import serve

    serve(artifacts, repo=repo, force=force, host=host, http_port=http_port, grpc_port=grpc_port,
          metrics_port=metrics_port, timeout=timeout, env=triton_env, instances=instances, max_batch=max_batch,
          dynamic_batching=not no_dynamic_batching, threads=threads, echo=lambda m: typer.echo(m))


def register(app: typer.Typer) -> None:
    app.command("triton")(triton_cmd)
    app.command("serve")(serve_cmd)
