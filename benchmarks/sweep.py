"""Benchmark everything this machine has: backends x heads x precisions x resolutions, plus the
CPU speed target of issue #4 and where the time goes.

    python benchmarks/sweep.py                       # full protocol: 100 warm-up + 100 timed frames
    python benchmarks/sweep.py --quick --out /tmp/s  # 3 + 10 frames, to check the script

Writes benchmarks/results/<machine>-<date>.json and .md (fields: benchmarks/README.md).

What it runs (batch 1, random inputs; weights do not change the runtime):
- CPU, for each --threads value: onnxruntime (the exported ONNX: fp32, plus fp16/int8 files where
  `quantize` left them in ./artifacts) and eager PyTorch (NCHW; channels_last at the target
  resolution), at every resolution and head.
- GPU where present: torch CUDA fp32 / fp16 / fp16 + CUDA graph, onnxruntime CUDA/TensorRT
  providers, and TensorRT engines found at the default paths.
- The CPU target: the exported `cls` model on onnxruntime must run >= 4x the frame rate of eager
  PyTorch (NCHW, upsample + argmax) at 512x1024, side by side in this run. The breakdown times the
  `logits` export (network only, 1/8 resolution) against `cls`, torch forward_logits_low against
  the full forward, and onnxruntime with fewer graph optimizations.
ONNX files missing from ./artifacts are exported (random weights, seed 0) into a temporary folder.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import sys
import tempfile
import time
from pathlib import Path
from typing import Dict, List, Optional, Tuple

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

TARGET_RES = (512, 1024)
TARGET_RATIO = 4.0


def _onnx_for(arch: str, head: str, res: Tuple[int, int], precision: str, workdir: Path, log) -> Optional[Path]:  # noqa: ANN001
    """The default-path ONNX if export/quantize left one; else (fp32 only) export into workdir."""
    from fastscnn_edge.core.paths import default_onnx, stem
    from fastscnn_edge.export.to_onnx import ExportSpec, export_onnx

    p = default_onnx(arch, head, res, precision)
    if p.exists():
        return p
    if precision != "fp32":
        return None
    out = workdir / f"{stem(arch, head, res)}.onnx"  # the sweep's own export (random weights; deleted after)
    if not out.exists():
        log(f"exporting {out.name} (random weights) ...")
        export_onnx(ExportSpec(arch=arch, head=head, res=res, output=out), validate=False)
    return out


def _origin(path: Optional[Path], workdir: Path) -> str:
    if path is None:
        return "no ONNX file"
    if path.parent == workdir:
        return f"{path.name}, exported by the sweep (random weights, seed 0; temporary)"
    return f"{path}, found at the default path"


def main(argv: Optional[List[str]] = None) -> int:
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    from fastscnn_edge.bench import cases as bench
    from fastscnn_edge.bench import timing
    from fastscnn_edge.core import envinfo
    from fastscnn_edge.core.resolution import PAPER_RESOLUTIONS
    from fastscnn_edge.core.machine import (default_threads, have_module, ort_gpu_providers, tensorrt_available,
                                        torch_cuda_available)
    from fastscnn_edge.core.fileio import atomic_write_text
    from fastscnn_edge.core.paths import default_engine
    from fastscnn_edge.core.resolution import parse_resolution, parse_resolutions

    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--warmup", type=int, default=100)
    ap.add_argument("--iters", type=int, default=100)
    ap.add_argument("--quick", action="store_true", help="3 warm-up + 10 timed frames (checks the script, not the machine)")
    ap.add_argument("--res", default=",".join(f"{h}x{w}" for h, w in PAPER_RESOLUTIONS), help="comma-separated HxW")
    ap.add_argument("--heads", default="cls,prob")
    ap.add_argument("--threads", default=None, help="comma-separated CPU thread counts (default: 1 and all usable)")
    ap.add_argument("--arch", default="paper")
    ap.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results")
    ap.add_argument("--target-res", default=f"{TARGET_RES[0]}x{TARGET_RES[1]}",
                    help="resolution of the CPU target and its breakdown (issue #4: 512x1024)")
    ap.add_argument("--no-cpu", action="store_true", help="skip the CPU runs (GPU machines where only the GPU matters)")
    args = ap.parse_args(argv)
    if args.quick:
        args.warmup, args.iters = 3, 10
    ress = parse_resolutions([args.res])
    tres = parse_resolution(args.target_res)
    heads = [h.strip() for h in args.heads.split(",") if h.strip()]
    usable = default_threads()
    threads = [int(t) for t in args.threads.split(",")] if args.threads else sorted({1, usable})
    opts = bench.BenchOptions(warmup=args.warmup, iters=args.iters)
    console = Console(stderr=True)
    log = console.print

    have_torch = have_module("torch")
    torch_cuda = torch_cuda_available()
    ort_gpu = ort_gpu_providers()
    have_trt = tensorrt_available() and have_module("fastscnn_edge.runtime.trt")
    log(f"machine: {envinfo.machine_name()}; torch {'cuda' if torch_cuda else ('cpu' if have_torch else 'absent')}; "
        f"onnxruntime GPU providers: {ort_gpu or 'none'}; TensorRT: {'yes' if have_trt else 'no'}; threads {threads}")

    # (group, Target, BenchOptions) to run, in order
    runs: List[Tuple[str, bench.Target, bench.BenchOptions]] = []
    t_start = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="fastscnn-sweep-") as tmp:
        work = Path(tmp)

        def onnx(head: str, res: Tuple[int, int], prec: str = "fp32") -> Optional[Path]:
            return _onnx_for(args.arch, head, res, prec, work, log)

        def opt(**kw) -> bench.BenchOptions:  # noqa: ANN003
            d = dict(opts.__dict__)
            d.update(kw)
            return bench.BenchOptions(**d)

        if not args.no_cpu:
            for th in threads:
                for res in ress:
                    for head in heads:
                        for prec in ("fp32", "fp16", "int8"):
                            p = onnx(head, res, prec)
                            if p is not None:
                                runs.append(("cpu", bench.BenchCase(p, "onnxruntime", "cpu", head, res, prec, args.arch,
                                                                 _origin(p, work)), opt(threads=th)))
                        if have_torch:
                            runs.append(("cpu", bench.BenchCase(None, "torch", "cpu", head, res, "fp32", args.arch,
                                                             "eager NCHW"), opt(threads=th)))
                            if res == tres:
                                runs.append(("cpu", bench.BenchCase(None, "torch", "cpu", head, res, "fp32", args.arch,
                                                                 "eager channels_last"), opt(threads=th, channels_last=True)))
                # the target's breakdown: network only (logits at 1/8) vs the head
                for head in ("cls", "logits"):
                    p = onnx(head, tres)
                    runs.append(("target", bench.BenchCase(p, "onnxruntime", "cpu", head, tres, "fp32", args.arch,
                                                        "target: " + _origin(p, work)), opt(threads=th)))
                    if have_torch:
                        runs.append(("target", bench.BenchCase(None, "torch", "cpu", head, tres, "fp32", args.arch,
                                                            "target"), opt(threads=th)))
        for res in ress:
            for head in heads:
                if torch_cuda:
                    for kw in ({}, {"half": True}, {"half": True, "cuda_graph": True}):
                        runs.append(("gpu", bench.BenchCase(None, "torch", "cuda", head, res, "fp16" if kw else "fp32",
                                                         args.arch, "torch cuda"), opt(**kw)))
                if ort_gpu:
                    p = onnx(head, res)
                    runs.append(("gpu", bench.BenchCase(p, "onnxruntime", "cuda", head, res, "fp32", args.arch,
                                                     ort_gpu[0]), opt()))
                if have_trt:
                    for prec in ("fp32", "fp16", "int8"):
                        e = default_engine(args.arch, head, res, prec)
                        if e.exists():
                            for cg in (False, True):
                                runs.append(("gpu", bench.BenchCase(e, "tensorrt", "cuda", head, res, prec, args.arch,
                                                                 e.name), opt(cuda_graph=cg)))

        results = []
        with Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                      console=console) as progress:
            overall = progress.add_task("sweep", total=len(runs))
            for group, target, o in runs:
                desc = f"{target.backend} {target.device} {target.head} {target.res[0]}x{target.res[1]} t={o.threads}"
                task = progress.add_task(desc, total=o.warmup + o.iters)

                def advance(_what: str, done: int, total: Optional[int], task=task) -> None:  # noqa: ANN001
                    progress.update(task, completed=done)
                try:
                    r = timing.run_case(target, o, progress=advance)
                except Exception as exc:  # noqa: BLE001 - one failing configuration must not end the sweep
                    log(f"[red]failed[/red] {desc}: {exc}")
                    progress.remove_task(task)
                    progress.advance(overall)
                    continue
                progress.remove_task(task)
                progress.advance(overall)
                results.append((group, o, r))
        extra = {"ort_graph_optimization": _graph_opt_levels(onnx("cls", tres), tres, threads, opts),
                 "ort_cls_head_ops_ms": _head_ops(tres, threads, opts),
                 "ort_cls_nhwc_head_ms": _nhwc_head_runs(onnx("cls", tres), tres, threads, opts, args.arch)} \
            if not args.no_cpu and have_module("onnxruntime") else {}

    summary = _target_summary(results, threads, tres)
    env = envinfo.collect()
    doc = {
        "tool": "benchmarks/sweep.py", "date_utc": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
        "command": "python benchmarks/sweep.py " + " ".join(argv if argv is not None else sys.argv[1:]),
        "protocol": {"batch": 1, "warmup_frames": opts.warmup, "timed_frames": opts.iters,
                     "quick": bool(args.quick), "input_buffers": opts.buffers},
        "environment": env,
        "cpu_target": summary,
        "diagnostics": extra,
        "runs": [{"group": g, "options": o.__dict__, **r.to_json()} for g, o, r in results],
        "seconds": round(time.perf_counter() - t_start, 1),
    }
    name = f"{env['machine']}-{dt.date.today().isoformat()}" + ("-quick" if args.quick else "")
    jpath = atomic_write_text(args.out / f"{name}.json", json.dumps(doc, indent=2, default=str) + "\n")
    mpath = atomic_write_text(args.out / f"{name}.md", _markdown(doc, results))
    verdict = ""
    by_threads: Dict[str, Dict[str, object]] = summary["by_threads"]  # type: ignore[assignment]
    if by_threads:
        verdict = "; CPU target: " + ", ".join(
            f"{t} thr {v['ratio']:.2f}x ({'met' if v['met'] else 'NOT met'})" for t, v in by_threads.items())
    print(f"swept {len(results)} configurations in {doc['seconds']} s{verdict}; wrote {jpath} and {mpath}")
    return 0


def _graph_opt_levels(path: Optional[Path], tres: Tuple[int, int], threads: List[int],
                      opts) -> Dict[str, Dict[str, float]]:  # noqa: ANN001
    """onnxruntime's cls model at each graph-optimization level (median ms), target resolution."""
    import onnxruntime as ort

    from fastscnn_edge.bench import cases as bench
    from fastscnn_edge.bench import timing
    from fastscnn_edge.runtime.backends import open_runner

    if path is None:
        return {}
    out: Dict[str, Dict[str, float]] = {}
    levels = {"disable_all": ort.GraphOptimizationLevel.ORT_DISABLE_ALL,
              "basic": ort.GraphOptimizationLevel.ORT_ENABLE_BASIC,
              "extended": ort.GraphOptimizationLevel.ORT_ENABLE_EXTENDED,
              "all": ort.GraphOptimizationLevel.ORT_ENABLE_ALL}
    for th in threads:
        row: Dict[str, float] = {}
        runner = open_runner(path, backend="onnxruntime", device="cpu", threads=th)
        # each level twice, in and against order, keeping the lower median: a burst of load elsewhere
        # on the machine then cannot make one level look slower than it is
        for name in list(levels) + list(reversed(levels)):
            so = ort.SessionOptions()
            so.graph_optimization_level = levels[name]
            so.intra_op_num_threads, so.inter_op_num_threads = th, 1
            so.log_severity_level = 3
            runner.session = ort.InferenceSession(str(path), so, providers=["CPUExecutionProvider"])  # type: ignore[attr-defined]
            t = bench.BenchCase(path, "onnxruntime", "cpu", "cls", tres, "fp32")
            r = timing.run_case(t, bench.BenchOptions(warmup=opts.warmup, iters=opts.iters, threads=th), runner=runner)
            row[name] = min(row.get(name, float("inf")), round(r.latency.median, 3))
        del runner
        out[str(th)] = row
    return out


def _head_ops(tres: Tuple[int, int], threads: List[int], opts) -> Dict[str, Dict[str, float]]:  # noqa: ANN001
    """The cls head alone on onnxruntime CPU at the target resolution (median ms): bilinear Resize
    of the 19-channel 1/8 logits to full size, and Resize + ArgMax, as one-node graphs."""
    import numpy as np
    import onnxruntime as ort
    from onnx import TensorProto, helper

    h, w = tres
    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 19, h // 8, w // 8])
    sizes = helper.make_tensor("sizes", TensorProto.INT64, [4], [1, 19, h, w])
    resize = helper.make_node("Resize", ["x", "", "", "sizes"], ["up"], mode="linear",
                              coordinate_transformation_mode="half_pixel")
    graphs = {
        "resize": helper.make_graph([resize], "resize", [x],
                                    [helper.make_tensor_value_info("up", TensorProto.FLOAT, [1, 19, h, w])], [sizes]),
        "resize_argmax": helper.make_graph(
            [resize, helper.make_node("ArgMax", ["up"], ["lab"], axis=1, keepdims=0)], "head", [x],
            [helper.make_tensor_value_info("lab", TensorProto.INT64, [1, h, w])], [sizes]),
    }
    data = np.random.default_rng(0).standard_normal((1, 19, h // 8, w // 8), dtype=np.float32)
    out: Dict[str, Dict[str, float]] = {}
    for th in threads:
        row: Dict[str, float] = {}
        for name, g in graphs.items():
            model = helper.make_model(g, opset_imports=[helper.make_opsetid("", 17)])
            model.ir_version = min(model.ir_version, 8)
            so = ort.SessionOptions()
            so.intra_op_num_threads, so.inter_op_num_threads = th, 1
            sess = ort.InferenceSession(model.SerializeToString(),
                                        so, providers=["CPUExecutionProvider"])
            for _ in range(max(1, opts.warmup)):
                sess.run(None, {"x": data})
            times = []
            for _ in range(opts.iters):
                t0 = time.perf_counter()
                sess.run(None, {"x": data})
                times.append((time.perf_counter() - t0) * 1e3)
            row[name] = round(float(np.median(times)), 3)
        row["argmax_only"] = round(row["resize_argmax"] - row["resize"], 3)
        out[str(th)] = row
    return out


def _nhwc_head_runs(path: Optional[Path], tres: Tuple[int, int], threads: List[int],
                    opts, arch: str = "paper") -> Dict[str, Dict[str, float]]:  # noqa: ANN001
    """The cls head in both layouts export offers (`--cls-layout nchw`: Resize + ArgMax over NCHW;
    `nhwc`, the default: Transpose at 1/8, Resize, ArgMax over the last axis), side by side on
    onnxruntime (median ms), and whether their labels agree on a random input."""
    import numpy as np
    import onnx
    import onnxruntime as ort

    from fastscnn_edge.export.to_onnx import ExportSpec, export_onnx, nhwc_cls_head

    if path is None:
        return {}

    with tempfile.TemporaryDirectory() as td:  # the same model (seed 0) exported with the NCHW head
        nchw = Path(td) / "nchw.onnx"
        export_onnx(ExportSpec(arch=arch, head="cls", res=tres, output=nchw, cls_layout="nchw"), validate=False)
        model = onnx.load(str(nchw))
    before = model.SerializeToString()
    nhwc_cls_head(model)
    after = model.SerializeToString()
    x = np.random.default_rng(0).standard_normal((1, 3, *tres), dtype=np.float32)
    out: Dict[str, Dict[str, float]] = {}
    for th in threads:
        so = ort.SessionOptions()
        so.intra_op_num_threads, so.inter_op_num_threads = th, 1
        row: Dict[str, float] = {}
        labels = []
        for name, data in (("nchw_head", before), ("nhwc_head", after)):
            sess = ort.InferenceSession(data, so, providers=["CPUExecutionProvider"])
            name_in = sess.get_inputs()[0].name
            labels.append(sess.run(None, {name_in: x})[0])
            for _ in range(max(1, opts.warmup)):
                sess.run(None, {name_in: x})
            times = []
            for _ in range(opts.iters):
                t0 = time.perf_counter()
                sess.run(None, {name_in: x})
                times.append((time.perf_counter() - t0) * 1e3)
            row[name] = round(float(np.median(times)), 3)
        row["label_agreement"] = float((labels[0] == labels[1]).mean())
        out[str(th)] = row
    return out


def _target_summary(results, threads: List[int], tres: Tuple[int, int]) -> Dict[str, object]:  # noqa: ANN001
    """Issue #4's CPU target per thread count: onnxruntime cls fps / eager torch cls fps at 512x1024."""
    by: Dict[str, Dict[str, object]] = {}
    for th in threads:
        def pick(backend: str, head: str):  # noqa: ANN202
            for g, o, r in results:
                t = r.case
                if (g == "target" and o.threads == th and t.backend == backend and t.head == head
                        and tuple(t.res) == tres):
                    return r
            return None
        oc, ol, tc, tl = pick("onnxruntime", "cls"), pick("onnxruntime", "logits"), pick("torch", "cls"), pick("torch", "logits")
        if oc is None or tc is None:
            continue
        ratio = oc.fps / tc.fps
        by[str(th)] = {
            "ort_cls_fps": round(oc.fps, 2), "torch_cls_fps": round(tc.fps, 2), "ratio": round(ratio, 3),
            "met": ratio >= TARGET_RATIO,
            "ort_cls_median_ms": round(oc.latency.median, 3),
            "ort_logits_median_ms": round(ol.latency.median, 3) if ol else None,
            "ort_head_ms": round(oc.latency.median - ol.latency.median, 3) if ol else None,
            "torch_cls_median_ms": round(tc.latency.median, 3),
            "torch_logits_median_ms": round(tl.latency.median, 3) if tl else None,
            "torch_head_ms": round(tc.latency.median - tl.latency.median, 3) if tl else None,
            "network_ratio": round(tl.latency.median / ol.latency.median, 3) if (tl and ol) else None,
        }
    return {"resolution": list(tres), "required_ratio": TARGET_RATIO,
            "definition": "fps of the exported cls ONNX on onnxruntime CPU / fps of eager PyTorch (NCHW, fp32, "
                          "upsample + argmax), same threads, same run", "by_threads": by}


def _markdown(doc, results) -> str:  # noqa: ANN001
    env = doc["environment"]
    cpu = env["cpu"]
    lines = [f"# fastscnn-edge sweep: {env['machine']}, {doc['date_utc'][:10]}", "",
             f"- command: `{doc['command'].strip()}`",
             f"- CPU: {cpu['model']} ({cpu['usable']} usable, {cpu['physical']} physical cores); GPU: "
             + (", ".join(g["name"] for g in env["gpus"]) or "none"),
             "- versions: " + ", ".join(f"{k} {v}" for k, v in env["packages"].items()),
             f"- protocol: batch 1, {doc['protocol']['warmup_frames']} warm-up + {doc['protocol']['timed_frames']} "
             f"timed frames per configuration" + (" (QUICK: not a measurement)" if doc["protocol"]["quick"] else ""),
             ""]
    tgt = doc["cpu_target"]
    if tgt["by_threads"]:
        lines += [f"## CPU target: onnxruntime `cls` >= {tgt['required_ratio']:.0f}x eager PyTorch at "
                  f"{tgt['resolution'][0]}x{tgt['resolution'][1]}", "",
                  "| threads | onnxruntime cls fps | torch cls fps | ratio | met | ORT network ms | ORT head ms | "
                  "torch network ms | torch head ms | network speed-up |",
                  "|---:|---:|---:|---:|---|---:|---:|---:|---:|---:|"]
        for th, v in tgt["by_threads"].items():
            lines.append(f"| {th} | {v['ort_cls_fps']:.1f} | {v['torch_cls_fps']:.1f} | {v['ratio']:.2f} | "
                         f"{'yes' if v['met'] else 'NO'} | {v['ort_logits_median_ms']} | {v['ort_head_ms']} | "
                         f"{v['torch_logits_median_ms']} | {v['torch_head_ms']} | {v['network_ratio']} |")
        lines += ["", "Network = the `logits` export / `forward_logits_low` (1/8 resolution); head = cls minus "
                  "network (bilinear upsample x8 of 19 channels + argmax), medians in ms."]
        gopt = doc["diagnostics"].get("ort_graph_optimization")
        if gopt:
            lines += ["", "onnxruntime `cls` median ms by graph optimization level:", "",
                      "| threads | " + " | ".join(next(iter(gopt.values())).keys()) + " |",
                      "|---:|" + "---:|" * len(next(iter(gopt.values())))]
            for th, row in gopt.items():
                lines.append(f"| {th} | " + " | ".join(f"{v:.2f}" for v in row.values()) + " |")
        nh = doc["diagnostics"].get("ort_cls_nhwc_head_ms")
        if nh:
            lines += ["", "cls head layout (`export --cls-layout`; nhwc, the default: Transpose to NHWC at 1/8, Resize, "
                      "ArgMax over the last axis), onnxruntime cls median ms:", "",
                      "| threads | NCHW head | NHWC head (default) | label agreement | ratio to torch cls with NHWC |",
                      "|---:|---:|---:|---:|---:|"]
            for th, row in nh.items():
                v = tgt["by_threads"].get(th)
                rt = f"{v['torch_cls_median_ms'] / row['nhwc_head']:.2f}" if v else "-"
                lines.append(f"| {th} | {row['nchw_head']:.2f} | {row['nhwc_head']:.2f} | "
                             f"{100 * row['label_agreement']:.2f} % | {rt} |")
        heads = doc["diagnostics"].get("ort_cls_head_ops_ms")
        if heads:
            lines += ["", "The cls head alone on onnxruntime (one-node graphs on 19 x 1/8 logits, median ms):", "",
                      "| threads | Resize x8 (bilinear) | Resize + ArgMax | ArgMax alone |", "|---:|---:|---:|---:|"]
            for th, row in heads.items():
                lines.append(f"| {th} | {row['resize']:.2f} | {row['resize_argmax']:.2f} | {row['argmax_only']:.2f} |")
        lines.append("")
    lines += ["## All configurations", "",
              "| group | backend | head | HxW | threads | fps | mean ms | median | p90 | p99 | cv % | GPU ms | H2D | D2H | warn |",
              "|---|---|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|"]

    def ms(s) -> str:  # noqa: ANN001
        return "-" if s is None else f"{s.mean:.2f}"
    for g, o, r in results:
        lat = r.latency
        lab = r.label
        lines.append(f"| {g} | {lab} | {r.case.head} | {r.case.res[0]}x{r.case.res[1]} | {r.threads or '-'} | "
                     f"{r.fps:.1f} | {lat.mean:.2f} | {lat.median:.2f} | {lat.p90:.2f} | {lat.p99:.2f} | "
                     f"{100 * lat.cv:.1f} | {ms(r.gpu_compute)} | {ms(r.h2d)} | {ms(r.d2h)} | "
                     f"{'yes' if r.warnings else ''} |")
    from fastscnn_edge.bench.report import paper_comparison

    comp = paper_comparison([r for g, o, r in results if g in ("cpu", "gpu")])
    if comp:
        lines += ["", "## Beside the paper's Table 5 (TensorFlow; Titan Xp / Titan X Maxwell; fps)", "",
                  "| head | HxW | ours | configuration | Titan Xp | Titan X (Maxwell) |", "|---|---|---:|---|---:|---:|"]
        for c in comp:
            lines.append(f"| {c['head']} | {c['res']} | {c['fps']:.1f} | {c['label']} | {c['titan_xp']} | {c['titan_x_maxwell']} |")
    lines += ["", "Fields: benchmarks/README.md. `warn`: coefficient of variation > 2.5 % or IQR/median > 10 % "
              "(trtexec's rules); see the JSON for the messages."]
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    raise SystemExit(main())
