"""The CPU runtimes side by side: onnxruntime and OpenVINO, fp32 and INT8, the `cls` head and the
network alone (`logits`), at each resolution and thread count, round-robin in one process.

    python benchmarks/cpu_runtimes.py        # -> benchmarks/results/cpu-runtimes-<date>.{json,md}
    python benchmarks/cpu_runtimes.py --quick --out /tmp/cr   # checks the script only

Issue 20's goals, each measured side by side: the toolkit's best CPU path for `cls` at 512x1024 at
least 1.3x faster than today's INT8 CPU form (`quantize --form cpu` on onnxruntime), and its best
fp32 path at least 1.5x today's fp32 default (the default `cls` export on onnxruntime). Every row is
opened through the toolkit's own runners (`open_runner`), so what is timed is what `bench`,
`predict` and `eval` run: OpenVINO with the file's dense cls head rewritten into the refined one at
load and fp32 arithmetic, onnxruntime with its sessions' idle threads sleeping. Model:
`models/demo/fastscnn_synth.pt` (trained on synthetic street scenes), float input, uint8 labels.
INT8: the CPU form (minmax) and the OpenVINO form (NNCF) on the same synthetic training scenes;
agreement with fp32 (and mIoU) on synthetic val scenes calibration never saw, which are also the
timed frames. A variant whose (p75 - p25) / median exceeds 10 % is marked noisy.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import sys
import tempfile
import time
from pathlib import Path
from typing import Any, Dict, List, Sequence, Tuple

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

from quant_speed import DEMO, NOISY_IQR, _stats, cpu_flags, make_scenes, parse_round_robin_args  # noqa: E402

CLS_GOAL = 1.3  # best cls path vs the INT8 CPU form on onnxruntime
FP32_GOAL = 1.5  # best fp32 cls path vs the default fp32 export on onnxruntime
BASE_FP32, BASE_INT8 = "onnxruntime fp32 cls (default export)", "onnxruntime int8 cpu form cls"


def variants(files: Dict[str, Path]) -> List[Tuple[str, Path, str, Dict[str, str], str]]:
    """(row name, file, backend, OpenVINO options, kind: fp32 | int8 | bf16) of every timed row."""
    return [
        (BASE_FP32, files["cls"], "onnxruntime", {}, "fp32"),
        ("onnxruntime fp32 cls (refined-head export)", files["cls_refine"], "onnxruntime", {}, "fp32"),
        (BASE_INT8, files["cpu_cls"], "onnxruntime", {}, "int8"),
        ("openvino fp32 cls (default export, as run)", files["cls"], "openvino", {}, "fp32"),
        ("openvino fp32 cls (default export, dense head kept)", files["cls"], "openvino", {"cls_head": "dense"}, "fp32"),
        ("openvino int8 openvino form cls", files["ov_cls"], "openvino", {}, "int8"),
        ("openvino bf16 arithmetic cls (default export)", files["cls"], "openvino", {"precision": "bf16"}, "bf16"),
        ("onnxruntime fp32 logits", files["logits"], "onnxruntime", {}, "fp32"),
        ("onnxruntime int8 cpu form logits", files["cpu_logits"], "onnxruntime", {}, "int8"),
        ("openvino fp32 logits", files["logits"], "openvino", {}, "fp32"),
        ("openvino int8 openvino form logits", files["ov_logits"], "openvino", {}, "int8"),
    ]


def main(argv: Sequence[str] | None = None) -> None:
    import numpy as np
    import onnxruntime
    import openvino

    from fastscnn_edge import __version__
    from fastscnn_edge.core import envinfo
    from fastscnn_edge.core.metadata import read_onnx_meta
    from fastscnn_edge.core.resolution import parse_resolutions
    from fastscnn_edge.export.to_onnx import ExportSpec, export_onnx
    from fastscnn_edge.quantize.convert import Int8Options, to_int8
    from fastscnn_edge.quantize.quant_eval import image_frames
    from fastscnn_edge.runtime.backends import open_runner

    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--res", default="512x1024,1024x2048")
    ap.add_argument("--threads", default="2,1")
    ap.add_argument("--warmup", type=int, default=5)
    args = parse_round_robin_args(ap, argv, rounds=10, per_round=3)
    t_start = time.perf_counter()
    blocks: List[Dict[str, Any]] = []
    with tempfile.TemporaryDirectory(prefix="cpu-runtimes.") as tmp:
        t = Path(tmp)
        scenes, calib, val_images = make_scenes(t / "scenes", args.calib, args.val)
        for res in parse_resolutions([args.res]):
            tag = f"{res[0]}x{res[1]}"

            def export(name: str, head: str, layout: str = "nhwc") -> Path:
                return export_onnx(ExportSpec(weights=DEMO, head=head, res=res, cls_layout=layout,
                                              output=t / f"{name}_{tag}.onnx"), validate=False).path

            files = {"cls": export("cls", "cls"), "cls_refine": export("cls_refine", "cls", "refine"),
                     "logits": export("logits", "logits")}
            checks: Dict[str, Dict[str, float]] = {}
            for key, src, form in (("cpu_cls", "cls", "cpu"), ("cpu_logits", "logits", "cpu"),
                                   ("ov_cls", "cls", "openvino"), ("ov_logits", "logits", "openvino")):
                r = to_int8(files[src], t / f"{key}_{tag}.onnx", calib,
                            options=Int8Options(form=form, val=scenes, method="minmax" if form == "cpu" else "entropy"))
                files[key] = r.path
                checks[key] = r.validation
            frames = image_frames(val_images, read_onnx_meta(files["cls"]), res, "val").inputs
            for threads in [int(v) for v in str(args.threads).split(",")]:
                rows = variants(files)
                runners = {name: open_runner(path, backend=be, threads=threads, spin=False, openvino_options=opts)
                           for name, path, be, opts, _ in rows}
                ref_labels = {name: [runners[name].labels(runners[name](x)) for x in frames] for name in
                              (BASE_FP32, "onnxruntime fp32 logits")}
                timing = round_robin(runners, frames, args.warmup, args.rounds, args.per_round)
                out_rows = []
                for name, path, be, opts, kind in rows:
                    r = runners[name]
                    ref = ref_labels[BASE_FP32 if " cls" in name else "onnxruntime fp32 logits"]
                    agree = float(np.mean([np.mean(r.labels(r(x)) == lab) for x, lab in zip(frames, ref)]))
                    key = {"int8 cpu form cls": "cpu_cls", "int8 cpu form logits": "cpu_logits",
                           "int8 openvino form cls": "ov_cls", "int8 openvino form logits": "ov_logits"}
                    q = next((checks[v] for k, v in key.items() if k in name), None)
                    out_rows.append({"model": name, "backend": be, "kind": kind, "description": r.description,
                                     "bytes": path.stat().st_size, **timing["stats"][name],
                                     "noisy": timing["stats"][name]["iqr_ratio"] > NOISY_IQR,
                                     "label_agreement_vs_onnxruntime_fp32": round(agree, 5),
                                     **({"int8_check": {k: round(float(v), 5) for k, v in q.items()}} if q else {})})
                    r.close()
                blocks.append(summarize(tag, threads, out_rows, timing))
                print(json.dumps(blocks[-1]["summary"]), flush=True)
    env = {"date": dt.date.today().isoformat(), "machine": envinfo.machine_name(), "cpu": envinfo.cpu_model(),
           "cpu_flags": cpu_flags() + [f for f in ("avx512_bf16", "amx_bf16") if f in _flags()],
           "cores": envinfo.cpu_cores(), "python": platform.python_version(), "fastscnn_edge": __version__,
           "onnxruntime": onnxruntime.__version__, "openvino": openvino.__version__.split("-")[0],
           "nncf": __import__("nncf").__version__,
           "settings": {k: getattr(args, k) for k in ("threads", "warmup", "rounds", "per_round", "calib", "val")},
           "command": " ".join(["python", "benchmarks/cpu_runtimes.py", *(argv if argv is not None else sys.argv[1:])]),
           "seconds": round(time.perf_counter() - t_start, 1)}
    stem = write_report(args.out, env, blocks)
    print(f"wrote {stem}.json and {stem}.md")


def _flags() -> set:
    try:
        line = next(ln for ln in Path("/proc/cpuinfo").read_text().splitlines() if ln.startswith("flags"))
    except (OSError, StopIteration):
        return set()
    return set(line.split(":", 1)[-1].split())


def round_robin(runners: Dict[str, Any], frames: List[Any], warmup: int, rounds: int, per_round: int) -> Dict[str, Any]:
    for r in runners.values():
        for i in range(warmup):
            r(frames[i % len(frames)])
    times: Dict[str, List[float]] = {name: [] for name in runners}
    load_before = os.getloadavg()
    for k in range(rounds):
        for name, r in runners.items():
            for i in range(per_round):
                x = frames[(k * per_round + i) % len(frames)]
                t0 = time.perf_counter()
                r(x)
                times[name].append(1000 * (time.perf_counter() - t0))
    load_after = os.getloadavg()
    return {"stats": {n: _stats(ms) for n, ms in times.items()},
            "load_before": [round(v, 2) for v in load_before], "load_after": [round(v, 2) for v in load_after]}


def summarize(tag: str, threads: int, rows: List[Dict[str, Any]], timing: Dict[str, Any]) -> Dict[str, Any]:
    by = {r["model"]: r for r in rows}
    fp32_base, int8_base = by[BASE_FP32]["median_ms"], by[BASE_INT8]["median_ms"]
    for r in rows:
        r["x_fp32_default"] = round(fp32_base / r["median_ms"], 2)
        r["x_int8_cpu_form"] = round(int8_base / r["median_ms"], 2)
    cls = [r for r in rows if " cls" in r["model"] and r["kind"] != "bf16"]
    best = min(cls, key=lambda r: r["median_ms"])
    best_fp32 = min((r for r in cls if r["kind"] == "fp32"), key=lambda r: r["median_ms"])
    summary = {"resolution": tag, "threads": threads, "best_cls": best["model"], "best_cls_ms": best["median_ms"],
               "best_cls_x_int8_cpu_form": best["x_int8_cpu_form"], "cls_goal_met": best["x_int8_cpu_form"] >= CLS_GOAL,
               "best_fp32_cls": best_fp32["model"], "best_fp32_cls_ms": best_fp32["median_ms"],
               "best_fp32_x_fp32_default": best_fp32["x_fp32_default"],
               "fp32_goal_met": best_fp32["x_fp32_default"] >= FP32_GOAL}
    return {"resolution": tag, "threads": threads, "rows": rows, "load_before": timing["load_before"],
            "load_after": timing["load_after"], "summary": summary}


def write_report(out: Path, env: Dict[str, Any], blocks: List[Dict[str, Any]]) -> Path:
    from fastscnn_edge.core.fileio import atomic_write_text, human_size

    stem = out / f"cpu-runtimes-{env['date']}"
    atomic_write_text(stem.with_suffix(".json"), json.dumps({"environment": env, "blocks": blocks}, indent=1) + "\n")
    st = env["settings"]
    lines = [f"# CPU runtimes side by side: onnxruntime and OpenVINO ({env['date']})", "",
             f"Reproduce: `{env['command']}` ({env['seconds']} s).", "",
             f"- Machine: {env['machine']}, {env['cpu']}, SIMD {', '.join(env['cpu_flags']) or '?'} (cores "
             f"{env['cores']}); onnxruntime {env['onnxruntime']}, OpenVINO {env['openvino']}, NNCF {env['nncf']}, "
             f"Python {env['python']}.",
             "- Model: the demo model (`models/demo/fastscnn_synth.pt`), float input, batch 1, uint8 labels. Every row "
             "is the toolkit's own runner (`open_runner`): what `bench`/`predict`/`eval` run. `openvino ... as run`: the "
             "default export with its dense NHWC cls head rewritten into the refined one at load "
             "(`fastscnn_edge/runtime/ov_runtime.py`), fp32 arithmetic; `dense head kept`: the file's head as it is (the cliff); "
             "`bf16 arithmetic`: OpenVINO's own default on CPUs with bf16 units, *not* fp32 (reported, not counted).",
             f"- INT8: CPU form = `quantize --int8 --form cpu --calib-method minmax`; OpenVINO form = `quantize --int8 "
             f"--form openvino` (NNCF); both on {st['calib']} synthetic training scenes, checked against fp32 on "
             f"{st['val']} val scenes calibration never saw (`int8 check`, the runtime of each form).",
             f"- Timing: the {st['val']} val scenes; {st['warmup']} warm-up runs of each row, then {st['rounds']} rounds of "
             f"{st['per_round']} runs of each row in turn (round-robin, one process). `x fp32 default` = the default fp32 "
             "export on onnxruntime's median / this median; `x int8 cpu` likewise against the INT8 CPU form. "
             "`labels vs ort fp32`: pixel agreement with onnxruntime fp32 of the same head on the timed frames.",
             f"- Goals (issue 20): best `cls` path >= {CLS_GOAL}x the INT8 CPU form; best fp32 `cls` path >= {FP32_GOAL}x "
             "the default fp32 export; both at 512x1024.", ""]
    for b in blocks:
        s = b["summary"]
        lines += [f"## {b['resolution']}, {b['threads']} thread(s)", "",
                  f"Best `cls`: {s['best_cls']}, {s['best_cls_ms']} ms = {s['best_cls_x_int8_cpu_form']}x the INT8 CPU form "
                  f"({'meets' if s['cls_goal_met'] else 'misses'} {CLS_GOAL}x). Best fp32 `cls`: {s['best_fp32_cls']}, "
                  f"{s['best_fp32_cls_ms']} ms = {s['best_fp32_x_fp32_default']}x the default fp32 export "
                  f"({'meets' if s['fp32_goal_met'] else 'misses'} {FP32_GOAL}x). Load average before {b['load_before']}, "
                  f"after {b['load_after']}.", "",
                  "| row | size | median ms | p10 ms | p90 ms | fps | x fp32 default | x int8 cpu | IQR/median | "
                  "labels vs ort fp32 | int8 check vs fp32 (agreement; mIoU int8 / fp32) |",
                  "|---|---|---|---|---|---|---|---|---|---|---|"]
        for r in b["rows"]:
            q = r.get("int8_check")
            check = (f"{100 * q['pixel_agreement']:.2f} % of {int(q['frames'])} frames; "
                     f"{100 * q.get('miou', float('nan')):.2f} / {100 * q.get('miou_reference', float('nan')):.2f}"
                     if q else "-")
            lines.append(f"| {r['model']} | {human_size(int(r['bytes']))} | {r['median_ms']} | {r['p10_ms']} | "
                         f"{r['p90_ms']} | {r['fps']} | {r['x_fp32_default']} | {r['x_int8_cpu_form']} | "
                         f"{100 * r['iqr_ratio']:.1f} %{' (noisy)' if r['noisy'] else ''} | "
                         f"{100 * r['label_agreement_vs_onnxruntime_fp32']:.2f} % | {check} |")
        lines.append("")
    atomic_write_text(stem.with_suffix(".md"), "\n".join(lines) + "\n")
    return stem


if __name__ == "__main__":
    main()
