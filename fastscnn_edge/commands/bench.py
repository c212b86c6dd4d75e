"""`fastscnn-edge bench`: throughput and latency of an engine, ONNX or checkpoint (or the defaults)."""

from __future__ import annotations

from pathlib import Path
from typing import List, Optional

import typer


def bench_cmd(
    artifacts: Optional[List[Path]] = typer.Argument(
        None, help="Engine(s), ONNX file(s) or .pt checkpoint(s). Default: what export/build-engine wrote to ./artifacts/."),
    backend: str = typer.Option("auto", "--backend", "-b", help="auto | tensorrt | onnxruntime | torch (torch with no artifact: the reference model, random weights)."),
    device: str = typer.Option("auto", "--device", "-d", help="auto | cpu | cuda."),
    head: Optional[List[str]] = typer.Option(None, "--head", help="cls | prob | logits, repeatable (default: cls, or the artifact's)."),
    res: Optional[List[str]] = typer.Option(None, "--res", "-r", help="HxW, repeatable or comma-separated. Default: the paper's three (or the artifact's)."),
    precision: Optional[str] = typer.Option(None, "--precision", help="fp32 | fp16 | int8: which default ONNX/engine to pick (default: engine fp16>int8>fp32, ONNX fp32)."),
    arch: Optional[str] = typer.Option(None, "--arch", "-a", help="paper | tramac | mmseg, for the default artifact names and the reference model."),
    warmup: int = typer.Option(100, "--warmup", help="Warm-up frames per resolution (the paper: 100)."),
    iters: int = typer.Option(100, "--iters", "-n", help="Timed frames per resolution (the paper: 100)."),
    threads: Optional[int] = typer.Option(None, "--threads", "-t", help="CPU threads (default: the runtime's own; the paper used 1)."),
    include_transfers: bool = typer.Option(True, "--include-transfers/--no-include-transfers",
                                           help="GPU: time host->device and device->host copies as part of each frame."),
    cuda_graph: bool = typer.Option(False, "--cuda-graph", help="Replay the frame as a CUDA graph (TensorRT, torch on CUDA)."),
    channels_last: bool = typer.Option(False, "--channels-last", help="torch: NHWC memory layout."),
    half: bool = typer.Option(False, "--half", help="torch on CUDA: fp16 weights and activations."),
    compile_: bool = typer.Option(False, "--compile", help="torch: torch.compile the model first (slow start)."),
    json_out: Optional[Path] = typer.Option(None, "--json", help="Write every number and the environment here."),
    markdown_out: Optional[Path] = typer.Option(None, "--markdown", help="Write a Markdown report beside the paper's Table 5."),
    plot_out: Optional[Path] = typer.Option(None, "--plot", help="Write a PNG of fps per resolution per backend (needs matplotlib)."),
) -> None:
    """Benchmark: batch 1, warm-up then timed frames; fps, latency percentiles, GPU/H2D/D2H times."""
    from fastscnn_edge.paths import parse_resolutions

    ress = parse_resolutions(res) if res else []  # none: the artifact's own, else the paper's three
    run_bench(artifacts or [], backend=backend, device=device, heads=head or [], resolutions=ress,
              precision=precision, arch=arch, warmup=warmup, iters=iters, threads=threads,
              include_transfers=include_transfers, cuda_graph=cuda_graph, channels_last=channels_last,
              half=half, compile=compile_, json_out=json_out, markdown_out=markdown_out, plot_out=plot_out)


def run_bench(artifacts, *, backend, device, heads, resolutions, precision, arch, warmup, iters, threads,  # noqa: ANN001
              include_transfers, cuda_graph, channels_last, half, compile, json_out, markdown_out, plot_out) -> None:  # noqa: A002, ANN001
    import time

    from rich.console import Console
    from rich.markup import escape
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    from fastscnn_edge import bench, envinfo, report
    from fastscnn_edge.fileio import check_writable, human_size

    opts = bench.BenchOptions(warmup=warmup, iters=iters, threads=threads, include_transfers=include_transfers,
                              cuda_graph=cuda_graph, channels_last=channels_last, half=half, compile=compile)
    opts.check()
    for p in (json_out, markdown_out, plot_out):
        if p is not None:
            check_writable(p)
    err = Console(stderr=True)
    t0 = time.perf_counter()
    targets = bench.plan(artifacts, backend=backend, device=device, heads=heads, resolutions=resolutions,
                         precision=precision, arch=arch)
    bench.check_options(targets, opts)
    for t in targets:
        err.print(f"[bold]{t.res[0]}x{t.res[1]} {t.head}[/bold]: {escape(t.reason)}", highlight=False)
    results = []
    with Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                  console=err, transient=False) as progress:
        for t in targets:
            task = progress.add_task(f"{t.backend} {t.head} {t.res[0]}x{t.res[1]}", total=warmup + iters)

            def advance(done: int, total: int, task=task) -> None:  # noqa: ANN001
                progress.update(task, completed=done)
            results.append(bench.run_target(t, opts, progress=advance))
    report.print_table(results)
    if any(r.details.get("random_weights") for r in results):
        from fastscnn_edge.metadata import RANDOM_WEIGHTS_NOTE

        typer.echo(RANDOM_WEIGHTS_NOTE, err=True)
    written = []
    if json_out or markdown_out:
        env = envinfo.collect()
    if json_out:
        written.append(report.write_json(json_out, report.to_json(results, opts, env)))
    if markdown_out:
        written.append(report.write_markdown(markdown_out, report.markdown(results, env, opts)))
    if plot_out:
        written.append(report.write_plot(plot_out, results))
    best = max(results, key=lambda r: r.fps)
    files = ", ".join(f"{p} ({human_size(p.stat().st_size)})" for p in written) or "no files (add --json/--markdown/--plot)"
    nxt = "fastscnn-edge bench --json bench.json --markdown bench.md --plot bench.png" if not written else \
        "python benchmarks/sweep.py (every backend x head x precision on this machine)"
    typer.echo(f"benchmarked {len(results)} configuration(s) in {time.perf_counter() - t0:.1f} s; best "
               f"{best.fps:.1f} fps ({best.label}, {best.target.head} {best.target.res[0]}x{best.target.res[1]}); "
               f"wrote {files} -> next: {nxt}")


def register(app: typer.Typer) -> None:
    app.command("bench")(bench_cmd)
