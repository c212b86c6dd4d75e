"""INT8 on onnxruntime CPU, side by side: the fp32 `cls` export of the demo model against its INT8
CPU form (`quantize --form cpu`) and its INT8 TensorRT form (`--form tensorrt`), at each
resolution, interleaved round-robin in one process so that other load on the machine hits every
variant alike.

    python benchmarks/quant_speed.py        # -> benchmarks/results/quant-speed-cpu-<date>.{json,md}
    python benchmarks/quant_speed.py --quick --out /tmp/qs   # checks the script only

Issue 12's target: the CPU form runs `cls` at >= 1.5x the fp32 frame rate at 512x1024 and 1024x2048,
counted as met only when it holds against both the fp32 export with the same (refined) cls head and
the default fp32 export (dense head). Each resolution is measured with 2 and with 1 intra-op
thread(s) (`--threads`); the rows: fp32 `cls` (dense, the default export), fp32 `cls` with the
refined head (`export --cls-layout refine`), the CPU form (refined head, what `quantize --form cpu`
writes), the CPU form with the dense head, the TensorRT form, and the `logits` head (the network
alone) in fp32 and CPU form. A last table times the cls head alone, dense against refined, on
logits with no, typical and all cells mixed. Model: `models/demo/fastscnn_synth.pt` (trained on
synthetic street scenes), default float input and uint8 labels. Calibration: minmax on synthetic
training scenes; agreement with fp32 on synthetic val scenes calibration never saw (`quantize
--val`); the same val scenes are the timed frames. Timing: per resolution and thread count,
`--warmup` runs of each variant, then `--rounds` rounds, each running every variant `--per-round`
times back to back; the load average is recorded before and after. A variant whose (p75 - p25) /
median exceeds 10 % is marked noisy: re-run on a quieter machine.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import TYPE_CHECKING, Dict, List, Optional, Sequence, Tuple

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

if TYPE_CHECKING:
    import numpy as np

DEMO = ROOT / "models" / "demo" / "fastscnn_synth.pt"
TARGET_SPEEDUP = 1.5
NOISY_IQR = 0.10


def cpu_flags() -> List[str]:
    """The x86 SIMD features that decide onnxruntime's int8 kernels (VNNI: u8s8 dot products in one step)."""
    try:
        text = Path("/proc/cpuinfo").read_text()
    except OSError:
        return []
    line = next((ln for ln in text.splitlines() if ln.startswith("flags")), "")
    have = set(line.split(":", 1)[-1].split())
    return [f for f in ("avx2", "avx512f", "avx512_vnni", "avx_vnni", "amx_int8") if f in have]


def session(path: Path, threads: int):  # noqa: ANN201
    """A CPU session whose idle threads sleep: with onnxruntime's default spinning, the pools of the
    sessions not running compete with the one that is (measured: int8 median 16.0 ms spinning vs
    10.3 ms not, same run, while its minimum stayed 9.6 ms)."""
    import onnxruntime as ort

    so = ort.SessionOptions()
    so.intra_op_num_threads = threads
    so.log_severity_level = 3
    so.add_session_config_entry("session.intra_op.allow_spinning", "0")
    return ort.InferenceSession(str(path), so, providers=["CPUExecutionProvider"])


def _stats(ms: List[float]) -> Dict[str, float]:
    q = statistics.quantiles(ms, n=20)  # 5 % steps
    q4 = statistics.quantiles(ms, n=4)
    med = statistics.median(ms)
    return {"n": len(ms), "median_ms": round(med, 2), "mean_ms": round(statistics.fmean(ms), 2),
            "min_ms": round(min(ms), 2), "p10_ms": round(q[1], 2), "p90_ms": round(q[17], 2),
            "iqr_ratio": round((q4[2] - q4[0]) / med, 3), "fps": round(1000 / med, 2)}



def parse_round_robin_args(ap: "argparse.ArgumentParser", argv: Optional[Sequence[str]], *, rounds: int,
                           per_round: int) -> "argparse.Namespace":
    """The options every round-robin CPU benchmark here shares (rounds, calibration and val scenes,
    --quick, --out), added to ``ap`` and parsed; --quick shrinks everything to check the script runs."""
    ap.add_argument("--rounds", type=int, default=rounds)
    ap.add_argument("--per-round", type=int, default=per_round)
    ap.add_argument("--calib", type=int, default=48, help="synthetic training scenes to calibrate on")
    ap.add_argument("--val", type=int, default=8, help="synthetic val scenes: the agreement check and the timed frames")
    ap.add_argument("--quick", action="store_true", help="tiny settings: checks that the script runs")
    ap.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results")
    args = ap.parse_args(argv)
    if args.quick:
        args.res, args.threads, args.warmup, args.rounds, args.per_round, args.calib, args.val = \
            "64x128", "2", 1, 2, 1, 8, 2
    return args

def make_scenes(folder: Path, train: int, val: int) -> Tuple[Path, Path, List[Path]]:
    """Synthetic scenes: (the Cityscapes-layout root, its training images to calibrate on, the sorted
    val images: the held-out check and the timed frames)."""
    from fastscnn_edge.data.synth import generate

    scenes = generate(folder, train, val, (256, 512), seed=0)
    return scenes, scenes / "leftImg8bit" / "train", sorted((scenes / "leftImg8bit" / "val").rglob("*.png"))


def main(argv: Sequence[str] | None = None) -> None:
    from fastscnn_edge import __version__
    from fastscnn_edge.core import envinfo
    from fastscnn_edge.core.metadata import read_onnx_meta
    from fastscnn_edge.core.resolution import parse_resolutions
    from fastscnn_edge.export.to_onnx import ExportSpec, export_onnx
    from fastscnn_edge.quantize.convert import Int8Options, to_int8
    from fastscnn_edge.quantize.quant_eval import image_frames

    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--res", default="512x1024,1024x2048")
    ap.add_argument("--input", default="float", choices=["float", "rgb8", "bgr8"], help="export input format")
    ap.add_argument("--threads", default="2,1", help="intra-op thread counts, each a block of its own")
    ap.add_argument("--warmup", type=int, default=10)
    args = parse_round_robin_args(ap, argv, rounds=15, per_round=4)
    import onnxruntime

    t_start = time.perf_counter()
    blocks, heads = [], []
    with tempfile.TemporaryDirectory(prefix="quant-speed.") as tmp:
        t = Path(tmp)
        scenes, calib, val_images = make_scenes(t / "scenes", args.calib, args.val)
        for res in parse_resolutions([args.res]):
            tag = f"{res[0]}x{res[1]}"
            rows: Dict[str, Dict[str, object]] = {}

            def fp32(name: str, head: str, layout: str = "nhwc") -> Path:
                spec = ExportSpec(weights=DEMO, head=head, res=res, input_format=args.input, cls_layout=layout,
                                  output=t / f"{name.replace(' ', '_').replace(',', '')}_{tag}.onnx")
                rows[name] = {"file": export_onnx(spec, validate=False).path}
                return rows[name]["file"]  # type: ignore[return-value]

            def int8(name: str, src: Path, form: str, **kw: object) -> None:
                r = to_int8(src, t / f"{name.replace(' ', '_').replace(',', '')}_{tag}.onnx", calib,
                            options=Int8Options(**{"form": form, "method": "minmax", "val": scenes, **kw}))
                rows[name] = {"file": r.path, "validation": r.validation, "checked_on": r.checked_on}

            dense = fp32("fp32 cls", "cls")
            fp32("fp32 cls, refined head", "cls", "refine")
            int8("int8 cpu form cls", dense, "cpu")
            int8("int8 cpu form cls, dense head", dense, "cpu", refine_head=False)
            int8("int8 tensorrt form cls", dense, "tensorrt")
            int8("int8 cpu form logits", fp32("fp32 logits", "logits"), "cpu")
            frames = image_frames(val_images, read_onnx_meta(dense), res, "val").inputs
            heads.append(head_alone(t, rows["fp32 logits"]["file"], frames, res))  # type: ignore[arg-type]
            print(json.dumps(heads[-1]), flush=True)
            for threads in [int(v) for v in str(args.threads).split(",")]:
                timing = round_robin([(k, Path(str(v["file"]))) for k, v in rows.items()], frames,
                                     threads=threads, warmup=args.warmup, rounds=args.rounds, per_round=args.per_round)
                blocks.append(summarize(tag, threads, rows, timing))
                print(json.dumps(blocks[-1]["summary"]), flush=True)
    env = {"date": dt.date.today().isoformat(), "machine": envinfo.machine_name(), "cpu": envinfo.cpu_model(),
           "cpu_flags": cpu_flags(), "cores": envinfo.cpu_cores(), "python": platform.python_version(),
           "fastscnn_edge": __version__, "onnxruntime": onnxruntime.__version__,
           "settings": {k: getattr(args, k) for k in ("input", "threads", "warmup", "rounds", "per_round", "calib", "val")},
           "command": " ".join(["python", "benchmarks/quant_speed.py", *(argv if argv is not None else sys.argv[1:])]),
           "seconds": round(time.perf_counter() - t_start, 1)}
    stem = write_report(args.out, env, blocks, heads)
    print(f"wrote {stem}.json and {stem}.md")


# Each variant's speed-up is against the fp32 export with the same head; the CPU form's cls also
# against the default fp32 export (the dense head every runtime builds).
REFERENCE = {"fp32 cls, refined head": "fp32 cls", "int8 cpu form cls": "fp32 cls, refined head",
             "int8 cpu form cls, dense head": "fp32 cls", "int8 tensorrt form cls": "fp32 cls",
             "int8 cpu form logits": "fp32 logits"}


def summarize(tag: str, threads: int, rows: Dict[str, Dict[str, object]], timing: Dict[str, object]) -> Dict[str, object]:
    stats = timing["stats"]  # type: ignore[index]
    per_round = timing["per_round_median_ms"]  # type: ignore[index]
    out_rows = []
    for name, info in rows.items():
        ref = REFERENCE.get(name, name)
        s = dict(stats[name])  # type: ignore[index]
        row: Dict[str, object] = {"model": name, "reference": ref, "bytes": Path(str(info["file"])).stat().st_size, **s,
                                  "speedup": round(stats[ref]["median_ms"] / s["median_ms"], 2),  # type: ignore[index]
                                  "speedup_per_round": [round(a / b, 2) for a, b in zip(per_round[ref], per_round[name])],
                                  "noisy": s["iqr_ratio"] > NOISY_IQR}
        v = info.get("validation")
        if v:
            row.update({"pixel_agreement_vs_fp32": round(v["pixel_agreement"], 5),  # type: ignore[index]
                        "miou_fp32": round(v.get("miou_reference", float("nan")), 4),  # type: ignore[union-attr]
                        "miou": round(v.get("miou", float("nan")), 4),  # type: ignore[union-attr]
                        "checked_on": f"{int(v['frames'])} {info['checked_on']}"})  # type: ignore[index]
        out_rows.append(row)
    by = {r["model"]: r for r in out_rows}
    cls = by["int8 cpu form cls"]
    vs_default = round(by["fp32 cls"]["median_ms"] / cls["median_ms"], 2)
    summary = {"resolution": tag, "threads": threads, "fp32_cls_ms": by["fp32 cls"]["median_ms"],
               "fp32_cls_refined_ms": by["fp32 cls, refined head"]["median_ms"], "int8_cpu_cls_ms": cls["median_ms"],
               "speedup_same_head": cls["speedup"], "speedup_vs_default_fp32": vs_default,
               "dense_head_speedup": by["int8 cpu form cls, dense head"]["speedup"],
               "network_speedup": by["int8 cpu form logits"]["speedup"],
               "target_met": min(cls["speedup"], vs_default) >= TARGET_SPEEDUP}  # type: ignore[type-var]
    return {"resolution": tag, "threads": threads, "rows": out_rows, "load_before": timing["load_before"],
            "load_after": timing["load_after"], "summary": summary}


def head_alone(tmp: Path, logits_model: Path, frames: List["np.ndarray"], res: Tuple[int, int], threads: int = 2,
               runs: int = 20) -> Dict[str, object]:
    """The cls head alone (fp32 logits in, labels out), dense against refined, on logits whose cells
    are all of one class, the street scenes' own, and a checkerboard of classes (every cell mixed:
    the refined head's worst case)."""
    import copy

    import numpy as np
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    from fastscnn_edge.export.cls_head import cell_tables, refine_cls_head

    net = session(logits_model, threads)
    scene_logits = [net.run(None, {net.get_inputs()[0].name: x})[0] for x in frames]
    _, c, h, w = scene_logits[0].shape
    H, W = res
    sizes = numpy_helper.from_array(np.array([1, H, W, c], np.int64), "sizes")
    graph = helper.make_graph(
        [helper.make_node("Transpose", ["logits"], ["nhwc"], perm=[0, 2, 3, 1], name="t"),
         helper.make_node("Resize", ["nhwc", "", "", "sizes"], ["up"], mode="linear",
                          coordinate_transformation_mode="half_pixel", name="resize"),
         helper.make_node("ArgMax", ["up"], ["am"], axis=3, keepdims=0, name="argmax"),
         helper.make_node("Cast", ["am"], ["labels"], to=TensorProto.UINT8, name="cast")],
        "head", [helper.make_tensor_value_info("logits", TensorProto.FLOAT, [1, c, h, w])],
        [helper.make_tensor_value_info("labels", TensorProto.UINT8, [1, H, W])], [sizes])
    dense = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    refined, unguarded = copy.deepcopy(dense), copy.deepcopy(dense)
    assert refine_cls_head(refined) is None and refine_cls_head(unguarded, max_mixed=1.0) is None
    paths = {}
    for name, m in (("dense", dense), ("refined", refined), ("refined_without_fallback", unguarded)):
        paths[name] = tmp / f"head_{name}_{H}x{W}.onnx"
        onnx.save(m, str(paths[name]))
    uniform = np.zeros((1, c, h, w), np.float32)
    uniform[:, 3] = 1.0
    checker = np.zeros((1, c, h, w), np.float32)
    checker[0, 0, ::2, ::2] = checker[0, 0, 1::2, 1::2] = 1.0
    checker[0, 1, 1::2, ::2] = checker[0, 1, ::2, 1::2] = 1.0
    corners, _ = cell_tables(h, w, H // h)

    def mixed(x: "np.ndarray") -> float:
        low = x[0].argmax(0).reshape(-1)[corners]
        return float((low.min(1) != low.max(1)).mean())

    cases = {"one class": [uniform], "street scenes": scene_logits, "checkerboard (every cell mixed)": [checker]}
    out: Dict[str, object] = {"resolution": f"{H}x{W}", "threads": threads, "cases": {}}
    sessions = {name: session(p, threads) for name, p in paths.items()}
    for case, xs in cases.items():
        row: Dict[str, object] = {"mixed_cells": round(statistics.fmean(mixed(x) for x in xs), 4)}
        for name, sess in sessions.items():
            ms = []
            for i in range(runs + 3):
                t0 = time.perf_counter()
                sess.run(None, {"logits": xs[i % len(xs)]})
                ms.append(1000 * (time.perf_counter() - t0))
            row[f"{name}_ms"] = round(statistics.median(ms[3:]), 2)
        same = all(np.array_equal(sessions["dense"].run(None, {"logits": x})[0], sessions[name].run(None, {"logits": x})[0])
                   for x in xs for name in ("refined", "refined_without_fallback"))
        row["same_labels"] = same
        out["cases"][case] = row  # type: ignore[index]
    return out


def round_robin(variants: Sequence[Tuple[str, Path]], frames: List["np.ndarray"], *, threads: int, warmup: int,
                rounds: int, per_round: int) -> Dict[str, object]:
    """Time every variant in turn, ``rounds`` times, each run on the next of ``frames``; returns
    per-variant statistics and the load averages."""
    sessions = {name: session(path, threads) for name, path in variants}
    names = {name: s.get_inputs()[0].name for name, s in sessions.items()}
    for name, s in sessions.items():
        for i in range(warmup):
            s.run(None, {names[name]: frames[i % len(frames)]})
    times: Dict[str, List[float]] = {name: [] for name in sessions}
    per_round_median: Dict[str, List[float]] = {name: [] for name in sessions}
    load_before = os.getloadavg()
    for r in range(rounds):
        for name, s in sessions.items():
            batch = []
            for i in range(per_round):
                x = frames[(r * per_round + i) % len(frames)]
                t0 = time.perf_counter()
                s.run(None, {names[name]: x})
                batch.append(1000 * (time.perf_counter() - t0))
            times[name] += batch
            per_round_median[name].append(statistics.median(batch))
    load_after = os.getloadavg()
    return {"stats": {name: _stats(ms) for name, ms in times.items()}, "per_round_median_ms": per_round_median,
            "load_before": [round(v, 2) for v in load_before], "load_after": [round(v, 2) for v in load_after]}


def write_report(out: Path, env: Dict[str, object], blocks: List[Dict[str, object]], heads: List[Dict[str, object]]) -> Path:
    from fastscnn_edge.core.fileio import atomic_write_text, human_size
    from fastscnn_edge.export.cls_head import MAX_MIXED

    stem = out / f"quant-speed-cpu-{env['date']}"
    atomic_write_text(stem.with_suffix(".json"), json.dumps({"environment": env, "blocks": blocks, "head_alone": heads},
                                                            indent=1) + "\n")
    st = env["settings"]  # type: ignore[index]
    lines = [f"# INT8 forms on onnxruntime CPU, side by side ({env['date']})", "",
             f"Reproduce: `{env['command']}` ({env['seconds']} s).", "",
             f"- Machine: {env['machine']}, {env['cpu']}, SIMD {', '.join(env['cpu_flags']) or '?'} "  # type: ignore[arg-type]
             f"(cores {env['cores']}); onnxruntime {env['onnxruntime']}, Python {env['python']}.",
             f"- Model: the demo model (`models/demo/fastscnn_synth.pt`), {st['input']} input, batch 1. `cls`: labels "
             "at full resolution, uint8; the dense head (x8 bilinear upsample + argmax at every pixel, the default "
             "export every runtime builds) or the refined head (`export --cls-layout refine`, what `quantize --form "
             "cpu` gives a static cls export: the same labels, full-resolution scores only in the cells whose four "
             "1/8-resolution corners disagree; `fastscnn_edge/export/cls_head.py`). `logits`: the network alone.",
             f"- INT8: `quantize --int8 --calib-method minmax` on {st['calib']} synthetic training scenes; "
             f"agreement and mIoU against fp32 on {st['val']} synthetic val scenes calibration never saw.",
             f"- Timing: on those {st['val']} val scenes (the refined head's work depends on the image), per resolution "
             f"{st['warmup']} warm-up runs of each variant, then {st['rounds']} rounds of {st['per_round']} runs of each "
             "variant in turn (round-robin in one process; intra-op spinning off so idle sessions do not compete). "
             "Load average (1/5/15 min, this benchmark's own threads included) before and after each block. "
             "`x ref` = the reference's median / this median; the reference is the fp32 export with the same head.",
             f"- Target (issue 12): the CPU form's `cls` at >= {TARGET_SPEEDUP}x the fp32 `cls` frame rate, counted as "
             "met only when it holds both against the fp32 export with the same refined head (the speed-up of "
             "quantization alone) and against the default fp32 export.",
             "- Supersedes the earlier runs of this name and `quant-speed-cpu-2026-11-25-quiet` (git history): the CPU "
             "form then kept the dense head and missed the target at 512x1024 (1.37x with 2 threads, 1.49x with 1); "
             "the `dense head` rows here repeat that comparison.", ""]
    for b in blocks:
        s = b["summary"]  # type: ignore[index]
        lines += [f"## {b['resolution']}, {b['threads']} thread(s): CPU form `cls` {s['speedup_same_head']}x fp32 with "  # type: ignore[index]
                  f"the same head, {s['speedup_vs_default_fp32']}x the default fp32 export "  # type: ignore[index]
                  f"({'meets' if s['target_met'] else 'misses'} the {TARGET_SPEEDUP}x target)", "",  # type: ignore[index]
                  f"Dense head on both: {s['dense_head_speedup']}x; network alone: {s['network_speedup']}x. "  # type: ignore[index]
                  f"Load average before {b['load_before']}, after {b['load_after']}.", "",
                  "| model | size | median ms | p10 ms | p90 ms | fps | reference | x ref (median) | x ref per round (min-max) | "
                  "IQR/median | agreement with fp32 | mIoU (fp32) |",
                  "|---|---|---|---|---|---|---|---|---|---|---|---|"]
        for r in b["rows"]:  # type: ignore[union-attr]
            pr = r["speedup_per_round"]
            agree = f"{100 * r['pixel_agreement_vs_fp32']:.2f} % ({r['checked_on']})" if "pixel_agreement_vs_fp32" in r else "-"
            miou = f"{100 * r['miou']:.2f} ({100 * r['miou_fp32']:.2f})" if "miou" in r else "-"
            noisy = " (noisy)" if r["noisy"] else ""
            ref = "-" if r["reference"] == r["model"] else r["reference"]
            lines.append(f"| {r['model']} | {human_size(int(r['bytes']))} | {r['median_ms']} | {r['p10_ms']} | "
                         f"{r['p90_ms']} | {r['fps']} | {ref} | {r['speedup']} | {min(pr)}-{max(pr)} | "
                         f"{100 * r['iqr_ratio']:.1f} %{noisy} | {agree} | {miou} |")
        lines.append("")
    lines += ["## The cls head alone (fp32 logits in, labels out)", "",
              "The refined head's time grows with the share of mixed cells; above "
              f"{int(100 * MAX_MIXED)} % of them (the checkerboard: every cell mixed) a frame takes the dense head "
              "inside the same graph. `without fallback`: the refined computation forced on every frame. `same "
              "labels`: both refined variants' labels equal the dense head's on every frame.", "",
              "| resolution | threads | logits | mixed cells | dense head ms | refined head ms | refined without "
              "fallback ms | same labels |",
              "|---|---|---|---|---|---|---|---|"]
    for hd in heads:
        for case, r in hd["cases"].items():  # type: ignore[union-attr]
            lines.append(f"| {hd['resolution']} | {hd['threads']} | {case} | {100 * r['mixed_cells']:.1f} % | "
                         f"{r['dense_ms']} | {r['refined_ms']} | {r['refined_without_fallback_ms']} | "
                         f"{'yes' if r['same_labels'] else 'NO'} |")
    lines += ["", "The TensorRT form is the file a TensorRT engine is built from; onnxruntime runs its Q/DQ pairs "
              "around float ops, which is not what it is for. The refined head is for onnxruntime on the CPU: on a "
              "GPU the dense head is cheap and TensorRT would build the refined one's data-dependent shapes "
              "(`build-engine` refuses it). The mIoU of the synthetic scenes says how well the demo model learned "
              "them, nothing about Cityscapes."]
    atomic_write_text(stem.with_suffix(".md"), "\n".join(lines) + "\n")
    return stem


if __name__ == "__main__":
    main()
