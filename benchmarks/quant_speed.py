"""Which INT8 form does onnxruntime run fastest on this CPU? fp32 vs the TensorRT Q/DQ form
(symmetric int8 activations) vs the CPU form (uint8 activations), same model, same frames.

    OMP_NUM_THREADS=2 python benchmarks/quant_speed.py   # -> benchmarks/results/quant-speed-cpu-<date>.{json,md}

A quick look, not the benchmark: 512x1024 cls head with uint8 frame input, random weights
(BatchNorm re-estimated so labels vary), 8 synthetic calibration frames (minmax), 3 warm-up and
20 timed runs, batch 1, ``--threads`` intra-op threads (default 2). Use `fastscnn-edge bench` for
numbers to publish.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import platform
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def varied_model(res):  # noqa: ANN001, ANN201
    """Random weights with BatchNorm statistics re-estimated, so argmax is not one class everywhere."""
    import torch

    from fastscnn_edge.model import build_model

    torch.manual_seed(0)
    model = build_model("paper", 19)
    for bn in (m for m in model.modules() if isinstance(m, torch.nn.BatchNorm2d)):
        bn.reset_running_stats()
        bn.momentum = None
    model.train()
    with torch.no_grad():
        for _ in range(2):
            size = (res[0] // 2, res[1] // 2)  # batch 2: BatchNorm in training mode needs > 1 value per channel
            model(torch.nn.functional.interpolate(torch.randn(2, 3, 16, 32), size=size, mode="bilinear"))
    return model.eval()


def write_frames(folder: Path, res, n: int = 8) -> None:  # noqa: ANN001
    import cv2
    import numpy as np

    rng = np.random.default_rng(0)
    h, w = res
    for i in range(n):
        img = cv2.resize(rng.integers(0, 256, (h // 32, w // 32, 3), dtype=np.uint8), (w, h)).astype(np.int16)
        img = np.clip(img + rng.integers(-20, 21, img.shape), 0, 255).astype(np.uint8)
        cv2.imwrite(str(folder / f"frame_{i:02d}.png"), img)


def time_model(path: Path, x, threads: int, warmup: int, iters: int) -> dict:  # noqa: ANN001
    import onnxruntime as ort

    so = ort.SessionOptions()
    so.intra_op_num_threads = threads
    so.log_severity_level = 3
    sess = ort.InferenceSession(str(path), so, providers=["CPUExecutionProvider"])
    feed = {sess.get_inputs()[0].name: x}
    for _ in range(warmup):
        sess.run(None, feed)
    ms = []
    for _ in range(iters):
        t0 = time.perf_counter()
        sess.run(None, feed)
        ms.append(1000 * (time.perf_counter() - t0))
    return {"median_ms": round(statistics.median(ms), 2), "mean_ms": round(statistics.fmean(ms), 2),
            "min_ms": round(min(ms), 2), "max_ms": round(max(ms), 2), "fps": round(1000 / statistics.median(ms), 2)}


def main() -> None:
    from fastscnn_edge.version import __version__
    from fastscnn_edge.export import ExportSpec, export_onnx
    from fastscnn_edge.metadata import read_onnx_meta
    from fastscnn_edge.resolution import parse_resolution
    from fastscnn_edge.quantize import synthetic_frames, to_int8

    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--res", default="512x1024")
    ap.add_argument("--iters", type=int, default=20)
    ap.add_argument("--warmup", type=int, default=3)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results")
    args = ap.parse_args()
    import onnxruntime

    res = parse_resolution(args.res)
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        t = Path(tmp)
        (t / "calib").mkdir()
        write_frames(t / "calib", res)
        src = export_onnx(ExportSpec(res=res, head="cls", input_format="rgb8", output=t / "m.onnx"),
                          model=varied_model(res), validate=False).path
        x = synthetic_frames(read_onnx_meta(src), res, n=1, seed=7)[0]
        variants = [("fp32", src, {})]
        for target in ("tensorrt", "cpu"):
            r = to_int8(src, None, t / "calib", target=target, method="minmax", progress=False)
            variants.append((f"int8 {target} form", r.path, r.validation))
        for name, path, v in variants:
            row = {"model": name, "size_mb": round(path.stat().st_size / 2**20, 2),
                   **time_model(path, x, args.threads, args.warmup, args.iters)}
            if v:
                row["pixel_agreement_vs_fp32"] = round(v["pixel_agreement"], 5)
            rows.append(row)
            print(json.dumps(row), flush=True)
    day = dt.date.today().isoformat()
    env = {"date": day, "toolkit": __version__, "onnxruntime": onnxruntime.__version__,
           "cpu": platform.processor() or platform.machine(), "python": platform.python_version(),
           "resolution": args.res, "threads": args.threads, "warmup": args.warmup, "iters": args.iters}
    args.out.mkdir(parents=True, exist_ok=True)
    stem = args.out / f"quant-speed-cpu-{day}"
    stem.with_suffix(".json").write_text(json.dumps({"environment": env, "rows": rows}, indent=1) + "\n")
    lines = [f"# INT8 forms on onnxruntime CPU ({day})", "",
             f"onnxruntime {env['onnxruntime']}, {env['cpu']}, {args.threads} thread(s), {args.res} cls head, "
             f"uint8 frames in, {args.warmup} warm-up + {args.iters} timed runs, batch 1. Random weights "
             "(BatchNorm re-estimated), 8 synthetic calibration frames (minmax): agreement is not accuracy.", "",
             "| model | size MB | median ms | mean ms | min ms | fps | pixel agreement vs fp32 |",
             "|---|---|---|---|---|---|---|"]
    for r in rows:
        agree = f"{100 * r['pixel_agreement_vs_fp32']:.2f} %" if "pixel_agreement_vs_fp32" in r else "-"
        lines.append(f"| {r['model']} | {r['size_mb']} | {r['median_ms']} | {r['mean_ms']} | {r['min_ms']} | "
                     f"{r['fps']} | {agree} |")
    stem.with_suffix(".md").write_text("\n".join(lines) + "\n")
    print(f"wrote {stem}.json and {stem}.md")


if __name__ == "__main__":
    main()
