"""Issue #6: train a demo Fast-SCNN on synthetic street scenes (CPU, minutes), then measure what
FP16 and INT8 cost against the fp32 reference on the synthetic validation split.

    python benchmarks/train_demo.py                 # ~15 min on 2 CPU cores
    python benchmarks/train_demo.py --quick --out /tmp/demo   # tiny: checks the script only

Steps: generate scenes (fastscnn_edge.synth) -> train (fastscnn_edge.train, the paper's recipe at a
small crop) -> copy the final checkpoint to models/demo/fastscnn_synth.pt -> export the fp32 ONNX
(cls head, the val resolution) -> quantize: fp16, INT8 for the tensorrt and the cpu target
(calibrated on training images, never on val) -> for each artifact, on the val split: mIoU against
the ground truth and pixel agreement / mIoU difference against the fp32 ONNX
(fastscnn_edge.evaluate). Writes results/precision-cost-<date>.json and .md.

All artifacts run on onnxruntime (CPU) here: the tensorrt-target INT8 graph is the Q/DQ file a
TensorRT engine is built from, run by onnxruntime's kernels; a TensorRT engine's own numbers need
`fastscnn-edge build-engine` + `fastscnn-edge compare` on a GPU machine.
The scenes are synthetic: the demo model's mIoU says how well it learned *these* scenes, not
anything about Cityscapes; the precision deltas are the point.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import platform
import shutil
import sys
import time
from pathlib import Path
from typing import Dict, List, Tuple

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

FULL = dict(train=300, val=50, size="256x512", crop="128x256", batch=4, iters=1500, lr=0.045)
CALIB_METHOD = "entropy"
QUICK = dict(train=8, val=4, size="64x128", crop="64x128", batch=2, iters=6, lr=0.045)


def parse_args() -> argparse.Namespace:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="tiny settings: checks that the script runs")
    ap.add_argument("--train", type=int)
    ap.add_argument("--val", type=int)
    ap.add_argument("--size", help="scene size HxW")
    ap.add_argument("--crop", help="training crop HxW")
    ap.add_argument("--batch", type=int)
    ap.add_argument("--iters", type=int)
    ap.add_argument("--lr", type=float)
    ap.add_argument("--threads", type=int, default=2, help="torch threads for training")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--work", type=Path, default=ROOT / "runs" / "train_demo", help="scenes, run, ONNX files")
    ap.add_argument("--model-out", type=Path, default=None,
                    help="where the demo checkpoint goes (default models/demo/fastscnn_synth.pt; with --quick: WORK/demo.pt)")
    ap.add_argument("--out", type=Path, default=None, help="results folder (default benchmarks/results; with --quick: WORK/results)")
    ap.add_argument("--resume", action="store_true", help="continue an interrupted training run in WORK/run")
    args = ap.parse_args()
    for key, value in (QUICK if args.quick else FULL).items():
        if getattr(args, key) is None:
            setattr(args, key, value)
    if args.out is None:
        args.out = args.work / "results" if args.quick else ROOT / "benchmarks" / "results"
    if args.model_out is None:
        args.model_out = args.work / "demo.pt" if args.quick else ROOT / "models" / "demo" / "fastscnn_synth.pt"
    return args


def train_demo(args: argparse.Namespace, data: Path) -> Dict[str, object]:
    import torch

    from fastscnn_edge.resolution import parse_resolution
    from fastscnn_edge.train import TrainConfig, train

    torch.set_num_threads(args.threads)
    cfg = TrainConfig(data=data, out=args.work / "run", crop=parse_resolution(args.crop), batch=args.batch,
                      iters=args.iters, lr=args.lr, val_every=max(1, args.iters // 4), ckpt_every=100,
                      seed=args.seed, device="cpu")
    result = train(cfg, resume=args.resume)
    args.model_out.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(result.checkpoint, args.model_out)
    return {"iterations": result.iterations, "seconds": round(result.seconds, 1), "final_loss": result.losses[-1]
            if result.losses else None, "val_miou_torch": result.val_miou, "checkpoint": str(args.model_out),
            "checkpoint_bytes": args.model_out.stat().st_size, "crop": args.crop, "batch": args.batch,
            "lr": args.lr, "threads": args.threads, "command": " ".join(["python", *sys.argv]), "recipe": "paper defaults (SGD 0.9, poly 0.9, wd 4e-5, aux 0.4, "
            "scale 0.5-2, flip, colour noise, brightness) at a small crop"}


def make_artifacts(args: argparse.Namespace, data: Path) -> Dict[str, Path]:
    from fastscnn_edge.export import ExportSpec, export_onnx
    from fastscnn_edge.resolution import parse_resolution
    from fastscnn_edge.quantize import to_fp16, to_int8

    onnx_dir = args.work / "onnx"
    res = parse_resolution(args.size)
    fp32 = export_onnx(ExportSpec(weights=args.model_out, head="cls", res=res, output=onnx_dir / "fp32.onnx")).path
    calib = data / "leftImg8bit" / "train"
    count = calibration_count(args)
    out = {"fp32": fp32, "fp16": to_fp16(fp32, onnx_dir / "fp16.onnx", log=print).path}
    for target in ("tensorrt", "cpu"):
        out[f"int8-{target}"] = to_int8(fp32, onnx_dir / f"int8-{target}.onnx", calib, target=target, count=count, method=CALIB_METHOD,
                                        cache=onnx_dir / f"int8-{target}.calib.json", log=print).path
    return out


def calibration_count(args: argparse.Namespace) -> int:
    return min(args.train, 100)


def measure(artifacts: Dict[str, Path], data: Path, model: Path, res: Tuple[int, int]) -> List[Dict[str, object]]:
    from fastscnn_edge.evaluate import compare, evaluate

    rows = []
    torch_eval = evaluate(model, data, "cityscapes", "val", res=res, backend="torch", device="cpu", progress=False)
    rows.append({"artifact": "PyTorch checkpoint (reference)", "precision": "fp32", "runtime": "torch CPU",
                 "miou": torch_eval["miou"], "pixel_agreement_vs_fp32": None, "miou_minus_fp32": None})
    for name, path in artifacts.items():
        c = compare(artifacts["fp32"], path, root=data, split="val", backend_a="onnxruntime",
                    backend_b="onnxruntime", device="cpu", progress=False)
        rows.append({"artifact": name, "file": str(path), "bytes": path.stat().st_size, "precision": name.split("-")[0],
                     "runtime": "onnxruntime CPU", "miou": c["miou_b"], "pixel_agreement_vs_fp32": c["pixel_agreement"],
                     "miou_minus_fp32": c["miou_difference"], "class_iou": c["class_iou_b"]})
    return rows


def environment() -> Dict[str, object]:
    from fastscnn_edge import __version__, envinfo

    return {"date": dt.date.today().isoformat(), "machine": envinfo.machine_name(), "cpu": envinfo.cpu_model(),
            "python": platform.python_version(), "fastscnn_edge": __version__,
            **envinfo.package_versions(["torch", "onnx", "onnxruntime", "onnxconverter-common", "opencv-python-headless"])}


def _shown(path: object) -> str:
    """A path relative to the repository where it lies inside it."""
    p = Path(str(path))
    return str(p.relative_to(ROOT)) if p.is_relative_to(ROOT) else str(p)


def _pct(v: object, digits: int = 2, signed: bool = False) -> str:
    if v is None:
        return "-"
    return f"{100 * float(v):+.{digits}f}" if signed else f"{100 * float(v):.{digits}f}"  # type: ignore[arg-type]


def write_report(out: Path, env: Dict[str, object], data_info: Dict[str, object], training: Dict[str, object],
                 calibration: Dict[str, object], rows: List[Dict[str, object]]) -> Path:
    from fastscnn_edge.fileio import atomic_write_text, human_size

    stem = out / f"precision-cost-{env['date']}"
    atomic_write_text(stem.with_suffix(".json"), json.dumps(
        {"env": env, "data": data_info, "training": training, "calibration": calibration, "rows": rows},
        indent=2) + "\n")
    lines = [f"# Precision cost on the synthetic demo model ({env['date']})", "",
             f"Reproduce: `{training['command']}`.", "",
             f"- Demo model: `{_shown(training['checkpoint'])}` ({human_size(int(training['checkpoint_bytes']))}), "  # type: ignore[call-overload]
             f"{training['iterations']} iterations at crop {training['crop']}, batch {training['batch']}, base lr "
             f"{training['lr']}, otherwise the paper's recipe; {training['seconds']} s on {training['threads']} CPU "
             f"thread(s) ({env['cpu']}).",
             f"- Data: {data_info['train']} train + {data_info['val']} val synthetic street scenes at {data_info['size']} "
             f"(`fastscnn_edge.synth`, seed {data_info['seed']}). **The synthetic-val mIoU says how well the demo model "
             "learned these procedural scenes, nothing about Cityscapes;** the differences between precisions are the point.",
             f"- INT8: {calibration['method']} calibration on {calibration['images']} training images (never val), "
             "Conv and Add quantized, the classifier conv and the head in float (`fastscnn_edge.quantize`).",
             "- Every ONNX file runs on onnxruntime (CPU). The `int8-tensorrt` row is the Q/DQ graph a TensorRT "
             "engine is built from, run by onnxruntime's kernels, not a TensorRT engine: on a GPU machine, "
             "`fastscnn-edge build-engine` + `fastscnn-edge compare` give the engine's own numbers.",
             "- mIoU: one confusion matrix over the val split, mean over the classes present (official Cityscapes "
             "conventions); pixel agreement: fraction of val pixels labelled as the fp32 ONNX labels them.", "",
             "| artifact | runtime | size | mIoU (%) | mIoU - fp32 (points) | pixel agreement with fp32 ONNX (%) |",
             "|---|---|---|---|---|---|"]
    for r in rows:
        size = human_size(int(r["bytes"])) if "bytes" in r else "-"  # type: ignore[call-overload]
        lines.append(f"| {r['artifact']} | {r['runtime']} | {size} | {_pct(r['miou'])} | "
                     f"{_pct(r['miou_minus_fp32'], signed=True)} | {_pct(r['pixel_agreement_vs_fp32'], 3)} |")
    per_class = [r for r in rows if "class_iou" in r]
    names = [n for n, v in per_class[0]["class_iou"].items() if v is not None]  # type: ignore[attr-defined]
    lines += ["", "Class IoU (%) on the synthetic val split:", "",
              "| class | " + " | ".join(str(r["artifact"]) for r in per_class) + " |",
              "|---|" + "---|" * len(per_class)]
    for name in names:
        lines.append(f"| {name} | " + " | ".join(_pct(r["class_iou"][name]) for r in per_class) + " |")  # type: ignore[index]
    atomic_write_text(stem.with_suffix(".md"), "\n".join(lines) + "\n")
    return stem


def main() -> None:
    args = parse_args()
    from fastscnn_edge.resolution import parse_resolution
    from fastscnn_edge.synth import generate

    t0 = time.perf_counter()
    data = args.work / "scenes"
    if not args.resume:
        shutil.rmtree(data, ignore_errors=True)
        shutil.rmtree(args.work / "run", ignore_errors=True)
    generate(data, args.train, args.val, parse_resolution(args.size), seed=args.seed)
    print(f"scenes: {args.train} train + {args.val} val at {args.size} in {data}", flush=True)
    training = train_demo(args, data)
    print(f"trained: {json.dumps(training)}", flush=True)
    artifacts = make_artifacts(args, data)
    rows = measure(artifacts, data, args.model_out, parse_resolution(args.size))
    info = {"train": args.train, "val": args.val, "size": args.size, "seed": args.seed, "root": str(data)}
    calibration = {"method": CALIB_METHOD, "images": calibration_count(args), "source": "train split"}
    stem = write_report(args.out, environment(), info, training, calibration, rows)
    for r in rows:
        agreement = r["pixel_agreement_vs_fp32"]
        shown = "-" if agreement is None else f"{100 * float(agreement):.3f} %"  # type: ignore[arg-type]
        print(f"{r['artifact']:32s} mIoU {100 * float(r['miou']):6.2f} %  agreement with fp32 {shown}")  # type: ignore[arg-type]
    print(f"wrote {stem}.json and .md in {time.perf_counter() - t0:.0f} s; demo model: {args.model_out}")


if __name__ == "__main__":
    main()
