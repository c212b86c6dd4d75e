"""Benchmark reports: the terminal table, JSON (every number + environment), Markdown beside the
paper's Table 5, and a PNG of fps per resolution per backend. All files are written atomically.
"""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from typing import Any, Dict, List, Optional, Sequence, Tuple

from fastscnn_edge.core.errors import MissingDependency
from fastscnn_edge.core.fileio import atomic_path, atomic_write_text

# Table 5 of the paper (TensorFlow, batch 1, fps); FACTS.md and the paper text.
PAPER_FPS: Dict[str, Dict[str, Dict[Tuple[int, int], float]]] = {
    "Titan Xp (Pascal)": {
        "cls": {(1024, 2048): 123.5, (512, 1024): 285.8, (256, 512): 485.4},
        "prob": {(1024, 2048): 106.2, (512, 1024): 266.3, (256, 512): 432.9},
    },
    "Titan X (Maxwell)": {
        "cls": {(1024, 2048): 75.3, (512, 1024): 218.8, (256, 512): 403.1},
        "prob": {(1024, 2048): 62.1, (512, 1024): 197.6, (256, 512): 372.8},
    },
}


def _ms(s) -> str:  # noqa: ANN001 - LatencyStats or None
    return "-" if s is None else f"{s.mean:.2f}"


def print_table(results: Sequence, console=None) -> None:  # noqa: ANN001
    """The rich table: one row per result; latency columns in ms."""
    from rich.console import Console
    from rich.table import Table

    if console is None:  # piped or logged: wide enough that the columns are not cut to "onn…"
        console = Console()
        if not console.is_terminal:
            console = Console(width=170)
    table = Table(title="fastscnn-edge bench (batch 1; times in ms)", show_lines=False)
    gpu_cols = [(name, attr) for name, attr in (("GPU", "gpu_compute"), ("H2D", "h2d"), ("D2H", "d2h"))
                if any(getattr(r, attr) is not None for r in results)]
    cols = ["backend", "head", "HxW", "fps", "mean", "median", "p90", "p99", "min", "max", "cv %"]
    cols += [name for name, _ in gpu_cols] + ["threads"]
    for col in cols:
        table.add_column(col, justify="left" if col in ("backend", "head") else "right")
    for r in results:
        lat = r.latency
        table.add_row(r.label, r.case.head, f"{r.case.res[0]}x{r.case.res[1]}", f"{r.fps:.1f}",
                      f"{lat.mean:.2f}", f"{lat.median:.2f}", f"{lat.p90:.2f}", f"{lat.p99:.2f}",
                      f"{lat.min:.2f}", f"{lat.max:.2f}", f"{100 * lat.cv:.1f}",
                      *[_ms(getattr(r, attr)) for _, attr in gpu_cols],
                      "-" if r.threads is None else str(r.threads))
    console.print(table)
    modes = sorted({r.mode for r in results})
    for m in modes:
        console.print(f"[dim]timed: {m}[/dim]")
    for r in results:
        for w in r.warnings:
            console.print(f"[yellow]warning[/yellow] {r.label} {r.case.res[0]}x{r.case.res[1]}: {w}")


def to_json(results: Sequence, options, env: Dict[str, object]) -> Dict[str, object]:  # noqa: ANN001
    from dataclasses import asdict

    from fastscnn_edge.core.version import __version__

    return {
        "tool": "fastscnn-edge bench",
        "toolkit_version": __version__,
        "date_utc": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
        "protocol": {"batch": 1, "warmup_frames": options.warmup, "timed_frames": options.iters,
                     "input_buffers": options.buffers, "seed": options.seed,
                     "include_transfers": options.include_transfers, "cuda_graph": options.cuda_graph},
        "options": asdict(options),
        "environment": env,
        "results": [r.to_json() for r in results],
    }


def write_json(path: Path, doc: Dict[str, object]) -> Path:
    return atomic_write_text(path, json.dumps(doc, indent=2, default=str) + "\n")


def markdown(results: Sequence, env: Dict[str, object], options, title: str = "fastscnn-edge benchmark") -> str:  # noqa: ANN001
    """Results table plus the comparison with the paper's Table 5 (cls/prob at its resolutions)."""
    gpus: List[Dict[str, str]] = env.get("gpus") or []  # type: ignore[assignment]
    cpu: Dict[str, object] = env.get("cpu") or {}  # type: ignore[assignment]
    lines = [f"# {title}", ""]
    lines.append(f"- machine: {env.get('machine')}; CPU {cpu.get('model')} ({cpu.get('usable')} usable of "
                 f"{cpu.get('logical')} logical CPUs); GPU: "
                 + (", ".join(f"{g['name']} (sm {g.get('compute_capability')}, driver {g.get('driver')})" for g in gpus)
                    or "none"))
    pk: Dict[str, str] = env.get("packages") or {}  # type: ignore[assignment]
    lines.append("- versions: " + ", ".join(f"{k} {v}" for k, v in pk.items()))
    lines.append(f"- protocol: batch 1, {options.warmup} warm-up + {options.iters} timed frames, random inputs "
                 f"rotated over {options.buffers} buffers; transfers "
                 f"{'included' if options.include_transfers else 'excluded'} on GPU backends")
    lines.append("")
    lines.append("| backend | head | HxW | fps | mean ms | median | p90 | p99 | cv % | GPU ms | H2D ms | D2H ms | threads |")
    lines.append("|---|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    for r in results:
        lat = r.latency
        lines.append(f"| {r.label} | {r.case.head} | {r.case.res[0]}x{r.case.res[1]} | {r.fps:.1f} | "
                     f"{lat.mean:.2f} | {lat.median:.2f} | {lat.p90:.2f} | {lat.p99:.2f} | {100 * lat.cv:.1f} | "
                     f"{_ms(r.gpu_compute)} | {_ms(r.h2d)} | {_ms(r.d2h)} | {r.threads if r.threads else '-'} |")
    comp = paper_comparison(results)
    if comp:
        lines += ["", "## Beside the paper (Table 5: TensorFlow, batch 1, fps)", "",
                  "| head | HxW | ours | backend | Titan Xp | x Titan Xp | Titan X (Maxwell) | x Titan X |",
                  "|---|---|---:|---|---:|---:|---:|---:|"]
        for c in comp:
            lines.append(f"| {c['head']} | {c['res']} | {c['fps']:.1f} | {c['label']} | {c['titan_xp']:.1f} | "
                         f"{c['fps'] / c['titan_xp']:.2f} | {c['titan_x_maxwell']:.1f} | {c['fps'] / c['titan_x_maxwell']:.2f} |")
        lines += ["", "The paper measured TensorFlow on a desktop GPU with one CPU thread; a CPU run here is not "
                  "the same experiment, and random weights do not change the runtime."]
    warn = [(r, w) for r in results for w in r.warnings]
    if warn:
        lines += ["", "## Warnings", ""] + [f"- {r.label} {r.case.res[0]}x{r.case.res[1]}: {w}" for r, w in warn]
    return "\n".join(lines) + "\n"


def paper_comparison(results: Sequence) -> List[Dict[str, Any]]:  # noqa: ANN001
    """Our fps beside Table 5 for every result at one of the paper's resolutions with a cls/prob head."""
    out: List[Dict[str, Any]] = []
    for r in results:
        res = tuple(r.case.res)
        head = r.case.head
        xp = PAPER_FPS["Titan Xp (Pascal)"].get(head, {}).get(res)  # type: ignore[arg-type]
        mx = PAPER_FPS["Titan X (Maxwell)"].get(head, {}).get(res)  # type: ignore[arg-type]
        if xp is None or mx is None:
            continue
        out.append({"head": head, "res": f"{res[0]}x{res[1]}", "fps": r.fps, "label": r.label,
                    "titan_xp": xp, "titan_x_maxwell": mx})
    return out


def write_markdown(path: Path, text: str) -> Path:
    return atomic_write_text(path, text)


def write_plot(path: Path, results: Sequence, title: Optional[str] = None) -> Path:  # noqa: ANN001
    """Grouped bars: fps per resolution (x) per backend label and head (bars), as PNG."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        raise MissingDependency("--plot needs matplotlib, which is not installed.",
                                fix="pip install matplotlib (or drop --plot).") from None
    ress: List[Tuple[int, int]] = []
    series: Dict[str, Dict[Tuple[int, int], float]] = {}
    for r in results:
        res = tuple(r.case.res)
        if res not in ress:
            ress.append(res)  # type: ignore[arg-type]
        series.setdefault(f"{r.label} {r.case.head}", {})[res] = r.fps  # type: ignore[index]
    ress.sort(key=lambda x: -x[0] * x[1])
    fig, ax = plt.subplots(figsize=(max(6.0, 1.6 * len(ress) * max(1, len(series)) ** 0.5 + 3), 4.5))
    width = 0.8 / max(1, len(series))
    for k, (name, vals) in enumerate(series.items()):
        xs = [i + (k - (len(series) - 1) / 2) * width for i in range(len(ress))]
        ys = [vals.get(r, 0.0) for r in ress]
        bars = ax.bar(xs, ys, width, label=name)
        ax.bar_label(bars, labels=[f"{y:.0f}" if y else "" for y in ys], fontsize=7)
    ax.set_xticks(range(len(ress)))
    ax.set_xticklabels([f"{h}x{w}" for h, w in ress])
    ax.set_ylabel("frames per second (batch 1)")
    ax.set_xlabel("input resolution (H x W)")
    ax.set_title(title or "Fast-SCNN throughput")
    ax.legend(fontsize=7)
    fig.tight_layout()
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png", dpi=120)
    plt.close(fig)
    return Path(path)


def write_reports(results: Sequence, options, *, json_out: Optional[Path] = None,  # noqa: ANN001
                  markdown_out: Optional[Path] = None, plot_out: Optional[Path] = None) -> List[Path]:
    """Write whichever of the JSON, Markdown and PNG reports are asked for (the environment is
    collected once for both text reports); return the paths written."""
    from fastscnn_edge.core import envinfo

    written: List[Path] = []
    env = envinfo.collect() if (json_out or markdown_out) else {}
    if json_out:
        written.append(write_json(json_out, to_json(results, options, env)))
    if markdown_out:
        written.append(write_markdown(markdown_out, markdown(results, env, options)))
    if plot_out:
        written.append(write_plot(plot_out, results))
    return written
