"""`fastscnn-edge bench`: throughput and latency of an engine, ONNX or checkpoint (or the defaults)."""

from __future__ import annotations

from pathlib import Path
from typing import List, Optional

import typer

from fastscnn_edge.commands import options


def bench_cmd(
    artifacts: Optional[List[Path]] = typer.Argument(
        None, help="Engine(s), ONNX file(s) or .pt checkpoint(s). Default: what export/build-engine wrote to ./artifacts/."),
    backend: str = options.backend("auto | tensorrt | onnxruntime | openvino | torch (auto on a CPU: OpenVINO where installed, except for the INT8 CPU form; torch with no artifact: the reference model, random weights)."),
    device: str = options.device(),
    head: Optional[List[str]] = typer.Option(None, "--head", help="cls | prob | logits, repeatable (default: cls, or the artifact's)."),
    res: Optional[List[str]] = options.res_list("HxW, repeatable or comma-separated. Default: the paper's three (or the artifact's)."),
    precision: Optional[str] = typer.Option(None, "--precision", help="fp32 | fp16 | int8: which default ONNX/engine to pick (default: engine fp16>int8>fp32, ONNX fp32)."),
    arch: Optional[str] = options.arch("paper | tramac | mmseg, for the default artifact names and the reference model."),
    warmup: int = typer.Option(100, "--warmup", help="Warm-up frames per resolution (the paper: 100)."),
    iters: int = typer.Option(100, "--iters", help="Timed frames per resolution (the paper: 100)."),
    threads: Optional[int] = options.threads("CPU threads (default: the runtime's own; the paper used 1)."),
    include_transfers: bool = typer.Option(True, "--include-transfers/--no-include-transfers",
                                           help="GPU: time host->device and device->host copies as part of each frame."),
    cuda_graph: bool = typer.Option(False, "--cuda-graph", help="Replay the frame as a CUDA graph (TensorRT, torch on CUDA)."),
    channels_last: bool = typer.Option(False, "--channels-last", help="torch: NHWC memory layout."),
    half: bool = typer.Option(False, "--half", help="torch on CUDA: fp16 weights and activations."),
    compile_: bool = typer.Option(False, "--compile", help="torch: torch.compile the model first (slow start)."),
    streams: Optional[int] = typer.Option(None, "--streams", help="Run N synthetic camera streams through the stream runtime (one runner): aggregate fps, per-stream latency, drops, bottleneck."),
    batch: int = typer.Option(1, "--batch", help="With --streams: frames per inference where the artifact's batch is dynamic (export --dynamic)."),
    rate: Optional[float] = typer.Option(None, "--rate", help="With --streams: each stream is a live camera at this many fps (latest frame kept, drops counted); default: as fast as the pipeline takes them."),
    json_out: Optional[Path] = options.json_out("Write every number and the environment here."),
    markdown_out: Optional[Path] = typer.Option(None, "--markdown", help="Write a Markdown report beside the paper's Table 5."),
    plot_out: Optional[Path] = typer.Option(None, "--plot", help="Write a PNG of fps per resolution per backend (needs matplotlib)."),
) -> None:
    """Benchmark: batch 1, warm-up then timed frames; fps, latency percentiles, GPU/H2D/D2H times."""
    import time

    from rich.console import Console
    from rich.markup import escape

    from fastscnn_edge.bench import cases as bench
    from fastscnn_edge.bench import report
    from fastscnn_edge.bench import timing
    from fastscnn_edge.commands.progress import bar
    from fastscnn_edge.core.fileio import check_writable, human_size
    from fastscnn_edge.core.metadata import RANDOM_WEIGHTS_NOTE
    from fastscnn_edge.core.resolution import parse_resolutions

    opts = bench.BenchOptions(warmup=warmup, iters=iters, threads=threads, include_transfers=include_transfers,
                              cuda_graph=cuda_graph, channels_last=channels_last, half=half, compile=compile_)
    opts.check()
    for p in (json_out, markdown_out, plot_out):
        if p is not None:
            check_writable(p)
    t0 = time.perf_counter()
    cases = bench.select_cases(artifacts or [], backend=backend, device=device, heads=head or [],
                               resolutions=parse_resolutions(res), precision=precision, arch=arch)
    bench.check_options(cases, opts)
    if streams is not None or batch != 1 or rate is not None:
        _bench_streams(cases, opts, streams if streams is not None else 1, batch, rate, json_out, t0)
        return
    err = Console(stderr=True)
    for c in cases:
        err.print(f"[bold]{c.res[0]}x{c.res[1]} {c.head}[/bold]: {escape(c.reason)}", highlight=False)
    with bar() as progress:
        results = timing.benchmark(cases, opts, progress=progress)
    report.print_table(results)
    if any(r.details.get("random_weights") for r in results):
        typer.echo(RANDOM_WEIGHTS_NOTE, err=True)
    written = report.write_reports(results, opts, json_out=json_out, markdown_out=markdown_out, plot_out=plot_out)
    best = max(results, key=lambda r: r.fps)
    files = ", ".join(f"{p} ({human_size(p.stat().st_size)})" for p in written) or "no files (add --json/--markdown/--plot)"
    nxt = "fastscnn-edge bench --json bench.json --markdown bench.md --plot bench.png" if not written else \
        "python benchmarks/sweep.py (every backend x head x precision on this machine)"
    typer.echo(f"benchmarked {len(results)} configuration(s) in {time.perf_counter() - t0:.1f} s; best "
               f"{best.fps:.1f} fps ({best.label}, {best.case.head} {best.case.res[0]}x{best.case.res[1]}); "
               f"wrote {files} -> next: {nxt}")


def _bench_streams(cases, opts, streams: int, batch: int, rate: Optional[float], json_out: Optional[Path],  # noqa: ANN001
                   t0: float) -> None:
    """``--streams``: each case's runner serves N synthetic streams; one line per case, a JSON report."""
    import json
    import time

    from fastscnn_edge.bench import timing
    from fastscnn_edge.commands.progress import bar
    from fastscnn_edge.core.envinfo import collect
    from fastscnn_edge.core.fileio import atomic_write_text
    from fastscnn_edge.serve import stream

    rows = []
    for c in cases:
        with timing.open_case_runner(c, opts) as runner, bar() as progress:
            rep = stream.bench_streams(runner, streams=streams, frames=opts.iters, batch=batch, rate=rate,
                                       warmup=opts.warmup, progress=progress)
            label = f"{c.backend} {c.device} {c.precision} {c.head} {c.res[0]}x{c.res[1]}"
        p50 = [s["latency_ms"]["median"] for s in rep.streams if s["latency_ms"]]
        p99 = [s["latency_ms"]["p99"] for s in rep.streams if s["latency_ms"]]
        typer.echo(f"{label}: {streams} stream(s) x {opts.iters} frame(s), batch {rep.batch}"
                   f"{f', {rate:g} fps each' if rate else ''}: {rep.fps:.1f} fps aggregate "
                   f"({rep.fps / streams:.1f} per stream), latency p50 {max(p50, default=0):.1f} ms / p99 "
                   f"{max(p99, default=0):.1f} ms (worst stream), {rep.dropped} dropped, bottleneck {rep.bottleneck}")
        rows.append({"label": label, "artifact": str(c.path) if c.path else None, "backend": c.backend,
                     "device": c.device, "precision": c.precision, "head": c.head, "resolution": list(c.res),
                     "streams": streams, "rate_fps": rate, "description": runner.description, **rep.to_json()})
    if json_out is not None:
        atomic_write_text(json_out, json.dumps({"kind": "bench --streams", "warmup_frames": opts.warmup,
                                                "results": rows, "environment": collect()}, indent=2) + "\n")
    typer.echo(f"benchmarked {len(rows)} configuration(s) as {streams} stream(s) in {time.perf_counter() - t0:.1f} s"
               + (f"; wrote {json_out}" if json_out else "") + " -> next: python benchmarks/stream_latency.py")


def register(app: typer.Typer) -> None:
    app.command("bench")(bench_cmd)
