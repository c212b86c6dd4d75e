"""What FP16 and the two INT8 forms cost on the demo model: file size, CPU speed, mIoU and pixel
agreement with fp32 on the synthetic val split (issue 12; first measured by issue 6's train_demo).

    python benchmarks/precision_cost.py     # ~5 min on 2 cores -> benchmarks/results/precision-cost-<date>.{json,md}
    python benchmarks/precision_cost.py --quick --out /tmp/pc   # checks the script only

Steps: write the synthetic scenes the demo model was trained on (fastscnn_edge.data.synth, seed 0: 300
train + 50 val at 256x512) -> export the fp32 `cls` ONNX at 256x512 -> `quantize`: FP16, INT8
TensorRT form, INT8 CPU form (entropy calibration on 100 training images, checked on the val split,
which calibration never sees) -> for every artifact on the val split: mIoU against the ground truth and
pixel agreement / mIoU difference against the fp32 ONNX (fastscnn_edge.bench.evaluate), then the CPU speed of
all four side by side (round-robin in one process, benchmarks/quant_speed.round_robin).

Every file runs on onnxruntime (CPU) here: the TensorRT-form row is the Q/DQ graph a TensorRT engine
is built from, run by onnxruntime's kernels; an engine's own numbers need `build-engine` + `compare`
on a GPU machine. The scenes are synthetic: the demo model's mIoU says how well it learned these
scenes, not anything about Cityscapes; the differences between precisions are the point.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import platform
import sys
import time
from pathlib import Path
from typing import Dict, List, Optional, Sequence, Tuple

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from benchmarks.quant_speed import cpu_flags, round_robin  # noqa: E402

CALIB_METHOD = "entropy"
INT8_BAR_POINTS = 1.0  # issue 12: INT8 within 1 mIoU point of fp32 on the synthetic val split
FULL = dict(train=300, val=50, size="256x512", calib=100)
QUICK = dict(train=8, val=4, size="64x128", calib=8)


def make_artifacts(model: Path, data: Path, work: Path, res: Tuple[int, int], calib_count: int,
                   log=print) -> Tuple[Dict[str, Path], Dict[str, Dict[str, object]]]:  # noqa: ANN001
    """fp32 / fp16 / int8-tensorrt / int8-cpu ONNX files, and what `quantize` itself reported for each."""
    from fastscnn_edge.export.to_onnx import ExportSpec, export_onnx
    from fastscnn_edge.quantize.convert import Int8Options, describe, to_fp16, to_int8

    onnx_dir = work / "onnx"
    fp32 = export_onnx(ExportSpec(weights=model, head="cls", res=res, output=onnx_dir / "fp32.onnx")).path
    fp16 = to_fp16(fp32, onnx_dir / "fp16.onnx", log=log)
    out = {"fp32": fp32, "fp16": fp16.path}
    reports: Dict[str, Dict[str, object]] = {"fp16": {"checked_on": fp16.checked_on, **fp16.validation}}
    for target in ("tensorrt", "cpu"):
        r = to_int8(fp32, onnx_dir / f"int8-{target}.onnx", data / "leftImg8bit" / "train", options=Int8Options(form=target, count=calib_count, method=CALIB_METHOD, val=data, cache=onnx_dir / f"int8-{target}.calib.json"), log=log)
        log(f"int8 {target} form: {describe(r.validation, r.checked_on)}")
        out[f"int8-{target}"] = r.path
        reports[f"int8-{target}"] = {"checked_on": r.checked_on, "converter": r.meta.extra["converter"], **r.validation}
    return out, reports


def measure(artifacts: Dict[str, Path], data: Path, model: Path, res: Tuple[int, int]) -> List[Dict[str, object]]:
    """mIoU and agreement with the fp32 ONNX of each artifact on the val split (plus the PyTorch reference)."""
    from fastscnn_edge.bench.evaluate import compare, evaluate

    rows: List[Dict[str, object]] = []
    torch_eval = evaluate(model, data, "cityscapes", "val", res=res, backend="torch", device="cpu")
    rows.append({"artifact": "PyTorch checkpoint (reference)", "precision": "fp32", "runtime": "torch CPU",
                 "miou": torch_eval["miou"], "pixel_agreement_vs_fp32": None, "miou_minus_fp32": None})
    for name, path in artifacts.items():
        c = compare(artifacts["fp32"], path, root=data, split="val", backend_a="onnxruntime",
                    backend_b="onnxruntime", device="cpu")
        rows.append({"artifact": name, "file": str(path), "bytes": path.stat().st_size, "precision": name.split("-")[0],
                     "runtime": "onnxruntime CPU", "miou": c["miou_b"], "pixel_agreement_vs_fp32": c["pixel_agreement"],
                     "miou_minus_fp32": c["miou_difference"], "val_images": c["frames_with_ground_truth"],
                     "class_iou": c["class_iou_b"]})
    return rows


def speed(artifacts: Dict[str, Path], data: Path, res: Tuple[int, int], threads: int, rounds: int, per_round: int,
          warmup: int, frames: int = 8) -> Dict[str, object]:
    """Round-robin timing on the first ``frames`` val scenes (the CPU form's refined cls head works
    more where the image has more class boundaries)."""
    from fastscnn_edge.core.metadata import read_onnx_meta
    from fastscnn_edge.quantize.quant_eval import image_frames

    images = sorted((data / "leftImg8bit" / "val").rglob("*.png"))[:frames]
    inputs = image_frames(images, read_onnx_meta(artifacts["fp32"]), res, "val scenes").inputs
    return round_robin(list(artifacts.items()), inputs, threads=threads, warmup=warmup, rounds=rounds,
                       per_round=per_round)


def training_facts(model: Path) -> Dict[str, object]:
    """What the checkpoint says about its training (train_demo.py records more when it runs this)."""
    import torch

    ck = torch.load(str(model), map_location="cpu", weights_only=False)
    extra = ck.get("extra", {}) if isinstance(ck, dict) else {}
    return {"checkpoint": str(model), "checkpoint_bytes": model.stat().st_size, "iterations": extra.get("iteration"),
            "val_miou_torch": extra.get("val_miou"), "source": ck.get("source") if isinstance(ck, dict) else None,
            "command": "python benchmarks/train_demo.py"}


def environment() -> Dict[str, object]:
    from fastscnn_edge import __version__
    from fastscnn_edge.core import envinfo

    return {"date": dt.date.today().isoformat(), "machine": envinfo.machine_name(), "cpu": envinfo.cpu_model(),
            "cpu_flags": cpu_flags(), "python": platform.python_version(), "fastscnn_edge": __version__,
            **envinfo.package_versions(["torch", "onnx", "onnxruntime", "onnxconverter-common", "opencv-python-headless"])}


def _shown(path: object) -> str:
    p = Path(str(path))
    return str(p.relative_to(ROOT)) if p.is_relative_to(ROOT) else str(p)


def _pct(v: object, digits: int = 2, signed: bool = False) -> str:
    if v is None:
        return "-"
    return f"{100 * float(v):+.{digits}f}" if signed else f"{100 * float(v):.{digits}f}"  # type: ignore[arg-type]


def write_report(out: Path, env: Dict[str, object], data_info: Dict[str, object], training: Dict[str, object],
                 calibration: Dict[str, object], rows: List[Dict[str, object]], timing: Dict[str, object],
                 quantize_reports: Dict[str, Dict[str, object]], command: str) -> Path:
    from fastscnn_edge.core.fileio import atomic_write_text, human_size

    stem = out / f"precision-cost-{env['date']}"
    int8_ok = all(abs(float(r["miou_minus_fp32"])) <= INT8_BAR_POINTS / 100  # type: ignore[arg-type]
                  for r in rows if str(r["artifact"]).startswith("int8"))
    atomic_write_text(stem.with_suffix(".json"), json.dumps(
        {"env": env, "command": command, "data": data_info, "training": training, "calibration": calibration,
         "rows": rows, "speed": timing, "quantize_reports": quantize_reports,
         "int8_within_1_point": int8_ok}, indent=2) + "\n")
    stats = timing["stats"]  # type: ignore[index]
    fp32_ms = stats["fp32"]["median_ms"]  # type: ignore[index]
    lines = [f"# Precision cost on the synthetic demo model ({env['date']})", "",
             f"Reproduce: `{command}`. Supersedes the first measurement of this name (issue 6: INT8 checked on its "
             "calibration images, TensorRT form with fp32 weights and Q/DQ on every Conv/Add output, CPU form "
             "Conv/Add only, no speed column).", "",
             f"- Machine: {env['machine']} ({env['cpu']}, SIMD {', '.join(env['cpu_flags']) or '?'}), onnxruntime "  # type: ignore[arg-type]
             f"{env.get('onnxruntime')}, Python {env['python']}.",
             f"- Demo model: `{_shown(training['checkpoint'])}` ({human_size(int(training['checkpoint_bytes']))}), "  # type: ignore[call-overload]
             f"{training['iterations']} iterations, trained by `{training['command']}` on the same synthetic scenes.",
             f"- Data: {data_info['train']} train + {data_info['val']} val synthetic street scenes at {data_info['size']} "
             f"(`fastscnn_edge.data.synth`, seed {data_info['seed']}). **The synthetic-val mIoU says how well the demo model "
             "learned these procedural scenes, nothing about Cityscapes;** the differences between precisions are the point.",
             f"- INT8: {calibration['method']} calibration on {calibration['images']} training images; every number "
             f"below is measured on the {data_info['val']} val images, which calibration never sees. TensorRT form: "
             "Q/DQ on Conv inputs and residual Add inputs, int8 weights, classifier conv and head in float. CPU form: "
             "every op type onnxruntime quantizes, uint8 activations, the refined cls head in float (the same labels as "
             "the dense x8 upsample + argmax, computed only in the cells at class boundaries; `fastscnn_edge.export.cls_head`), "
             "the first conv's input padded to 4 channels (`fastscnn_edge.quantize.qdq`, `calibration/README.md`).",
             "- Every ONNX file runs on onnxruntime (CPU). The `int8-tensorrt` row is the Q/DQ graph a TensorRT "
             "engine is built from, run by onnxruntime's kernels, not a TensorRT engine (its speed here says nothing "
             "about TensorRT): on a GPU machine, `fastscnn-edge build-engine` + `fastscnn-edge compare` give the "
             "engine's own numbers.",
             "- mIoU: one confusion matrix over the val split, mean over the classes present (official Cityscapes "
             "conventions); pixel agreement: fraction of val pixels labelled as the fp32 ONNX labels them.",
             f"- Speed: {data_info['size']}, batch 1, {timing['threads']} threads, on the first 8 val scenes in turn, round-robin in one process "
             f"({timing['rounds']} rounds x {timing['per_round']} runs each after {timing['warmup']} warm-up runs); "
             f"load average before {timing['load_before']}, after {timing['load_after']} (a shared machine).", "",
             f"INT8 within {INT8_BAR_POINTS:.1f} mIoU point of fp32: **{'yes' if int8_ok else 'NO'}**.", "",
             "| artifact | runtime | size | mIoU (%) | mIoU - fp32 (points) | pixel agreement with fp32 ONNX (%) | "
             "CPU median ms | x fp32 speed | x fp32 per round (min-max) | IQR/median |",
             "|---|---|---|---|---|---|---|---|---|---|"]
    per_round = timing["per_round_median_ms"]  # type: ignore[index]
    for r in rows:
        size = human_size(int(r["bytes"])) if "bytes" in r else "-"  # type: ignore[call-overload]
        st = stats.get(str(r["artifact"])) if "file" in r else None  # type: ignore[union-attr]
        ms = f"{st['median_ms']}" if st else "-"
        ratio = f"{fp32_ms / st['median_ms']:.2f}" if st else "-"
        rounds = [a / b for a, b in zip(per_round["fp32"], per_round[str(r["artifact"])])] if st else []
        spread = f"{min(rounds):.2f}-{max(rounds):.2f}" if rounds else "-"
        iqr = f"{100 * st['iqr_ratio']:.1f} %{' (noisy)' if st['iqr_ratio'] > 0.10 else ''}" if st else "-"
        lines.append(f"| {r['artifact']} | {r['runtime']} | {size} | {_pct(r['miou'])} | "
                     f"{_pct(r['miou_minus_fp32'], signed=True)} | {_pct(r['pixel_agreement_vs_fp32'], 3)} | {ms} | {ratio} | "
                     f"{spread} | {iqr} |")
    per_class = [r for r in rows if "class_iou" in r]
    names = [n for n, v in per_class[0]["class_iou"].items() if v is not None]  # type: ignore[attr-defined]
    lines += ["", "Class IoU (%) on the synthetic val split:", "",
              "| class | " + " | ".join(str(r["artifact"]) for r in per_class) + " |",
              "|---|" + "---|" * len(per_class)]
    for name in names:
        lines.append(f"| {name} | " + " | ".join(_pct(r["class_iou"][name]) for r in per_class) + " |")  # type: ignore[index]
    atomic_write_text(stem.with_suffix(".md"), "\n".join(lines) + "\n")
    return stem


def run(model: Path, data: Path, work: Path, out: Path, *, res: Tuple[int, int], data_info: Dict[str, object],
        calib_count: int, training: Optional[Dict[str, object]] = None, threads: int = 2, rounds: int = 20,
        per_round: int = 3, warmup: int = 10, command: str = "python benchmarks/precision_cost.py") -> Path:
    """Everything after training: artifacts, accuracy, speed, report. Returns the results stem."""
    artifacts, reports = make_artifacts(model, data, work, res, calib_count)
    rows = measure(artifacts, data, model, res)
    timing = speed(artifacts, data, res, threads, rounds, per_round, warmup)
    timing.update(threads=threads, rounds=rounds, per_round=per_round, warmup=warmup)
    calibration = {"method": CALIB_METHOD, "images": calib_count, "source": "train split",
                   "validated_on": "val split (never calibrated on)"}
    stem = write_report(out, environment(), data_info, training or training_facts(model), calibration, rows, timing,
                        reports, command)
    for r in rows:
        agreement = r["pixel_agreement_vs_fp32"]
        shown = "-" if agreement is None else f"{100 * float(agreement):.3f} %"  # type: ignore[arg-type]
        print(f"{r['artifact']:32s} mIoU {100 * float(r['miou']):6.2f} %  agreement with fp32 {shown}")  # type: ignore[arg-type]
    return stem


def main(argv: Optional[Sequence[str]] = None) -> None:
    from fastscnn_edge.core.resolution import parse_resolution
    from fastscnn_edge.data.synth import generate

    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", type=Path, default=ROOT / "models" / "demo" / "fastscnn_synth.pt")
    ap.add_argument("--quick", action="store_true", help="tiny settings: checks that the script runs")
    ap.add_argument("--work", type=Path, default=ROOT / "runs" / "precision_cost", help="scenes and ONNX files")
    ap.add_argument("--out", type=Path, default=None, help="results folder (default benchmarks/results; --quick: WORK/results)")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--rounds", type=int, default=20)
    args = ap.parse_args(argv)
    cfg = QUICK if args.quick else FULL
    out = args.out or (args.work / "results" if args.quick else ROOT / "benchmarks" / "results")
    t0 = time.perf_counter()
    data = generate(args.work / "scenes", cfg["train"], cfg["val"], parse_resolution(str(cfg["size"])), seed=0)
    info = {"train": cfg["train"], "val": cfg["val"], "size": cfg["size"], "seed": 0, "root": str(data)}
    command = " ".join(["python", "benchmarks/precision_cost.py", *(argv if argv is not None else sys.argv[1:])])
    stem = run(args.model, data, args.work, out, res=parse_resolution(str(cfg["size"])), data_info=info,
               calib_count=int(cfg["calib"]), threads=args.threads, rounds=2 if args.quick else args.rounds,
               per_round=1 if args.quick else 3, warmup=1 if args.quick else 10, command=command)
    print(f"wrote {stem}.json and .md in {time.perf_counter() - t0:.0f} s")


if __name__ == "__main__":
    main()
