"""Issue #6: train a demo Fast-SCNN on synthetic street scenes (CPU, minutes), then measure what
FP16 and INT8 cost against the fp32 reference on the synthetic validation split.

    python benchmarks/train_demo.py                 # ~15 min on 2 CPU cores
    python benchmarks/train_demo.py --quick --out /tmp/demo   # tiny: checks the script only

Steps: generate scenes (fastscnn_edge.data.synth) -> train (fastscnn_edge.train.loop, the paper's recipe at a
small crop) -> copy the final checkpoint to models/demo/fastscnn_synth.pt -> what
benchmarks/precision_cost.py does with it (fp32 / fp16 / INT8 TensorRT form / INT8 CPU form: size,
CPU speed, mIoU and agreement with fp32 on the val split, which calibration never sees). Writes
results/precision-cost-<date>.json and .md.

All artifacts run on onnxruntime (CPU) here: the tensorrt-target INT8 graph is the Q/DQ file a
TensorRT engine is built from, run by onnxruntime's kernels; a TensorRT engine's own numbers need
`fastscnn-edge build-engine` + `fastscnn-edge compare` on a GPU machine.
The scenes are synthetic: the demo model's mIoU says how well it learned *these* scenes, not
anything about Cityscapes; the precision deltas are the point.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import time
from pathlib import Path
from typing import Dict

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from benchmarks import precision_cost  # noqa: E402 - after the path is set

FULL = dict(train=300, val=50, size="256x512", crop="128x256", batch=4, iters=1500, lr=0.045)
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

    from fastscnn_edge.core.resolution import parse_resolution
    from fastscnn_edge.train.loop import TrainConfig, train

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


def main() -> None:
    args = parse_args()
    from fastscnn_edge.core.resolution import parse_resolution
    from fastscnn_edge.data.synth import generate

    t0 = time.perf_counter()
    data = args.work / "scenes"
    if not args.resume:
        shutil.rmtree(data, ignore_errors=True)
        shutil.rmtree(args.work / "run", ignore_errors=True)
    generate(data, args.train, args.val, parse_resolution(args.size), seed=args.seed)
    print(f"scenes: {args.train} train + {args.val} val at {args.size} in {data}", flush=True)
    training = train_demo(args, data)
    print(f"trained: {json.dumps(training)}", flush=True)
    info = {"train": args.train, "val": args.val, "size": args.size, "seed": args.seed, "root": str(data)}
    stem = precision_cost.run(args.model_out, data, args.work, args.out, res=parse_resolution(args.size), data_info=info,
                              calib_count=min(args.train, 100), training=training, command=training["command"],
                              rounds=2 if args.quick else 20, per_round=1 if args.quick else 3,
                              warmup=1 if args.quick else 10)
    print(f"wrote {stem}.json and .md in {time.perf_counter() - t0:.0f} s; demo model: {args.model_out}")


if __name__ == "__main__":
    main()
