"""Issue #2 acceptance, measured: export every architecture variant at the paper's three
resolutions with the `prob` and `cls` heads and record the difference to PyTorch.

    python benchmarks/export_acceptance.py            # writes benchmarks/results/export-acceptance-<machine>-<date>.{json,md}

Bars: prob max abs difference <= 1e-4, cls pixel agreement >= 99.99 % (export_onnx refuses to
write below them). Random weights (seed 0) unless --weights-dir holds <arch>.pt checkpoints.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import platform
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def main() -> None:
    from fastscnn_edge import PAPER_RESOLUTIONS, __version__
    from fastscnn_edge.export.to_onnx import CLS_MIN_AGREEMENT, PROB_MAX_ABS_DIFF, ExportSpec, export_onnx
    from fastscnn_edge.model.network import VARIANTS

    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results")
    ap.add_argument("--weights-dir", type=Path, default=None)
    args = ap.parse_args()

    import onnx
    import onnxruntime
    import torch

    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for arch in VARIANTS:
            w = args.weights_dir / f"{arch}.pt" if args.weights_dir else None
            for head in ("prob", "cls"):
                for res in PAPER_RESOLUTIONS:
                    t0 = time.perf_counter()
                    r = export_onnx(ExportSpec(arch=None if w else arch, weights=w, head=head, res=tuple(res),
                                               output=Path(tmp) / f"{arch}_{head}_{res[0]}x{res[1]}.onnx"))
                    row = {"arch": arch, "head": head, "resolution": f"{res[0]}x{res[1]}",
                           "nodes": sum(r.op_counts.values()), "matmul_nodes": r.op_counts.get("MatMul", 0),
                           "gather_nodes": r.op_counts.get("Gather", 0), "seconds": round(time.perf_counter() - t0, 2),
                           **{k: v for k, v in r.validation.items() if k not in ("height", "width")}}
                    rows.append(row)
                    print(json.dumps(row), flush=True)
    env = {"machine": platform.processor() or platform.machine(), "python": platform.python_version(),
           "torch": torch.__version__, "onnx": onnx.__version__, "onnxruntime": onnxruntime.__version__,
           "fastscnn_edge": __version__, "opset": 17, "weights": str(args.weights_dir or "random init, seed 0"),
           "date": dt.date.today().isoformat()}
    try:
        env["cpu"] = next(line.split(":", 1)[1].strip() for line in open("/proc/cpuinfo") if line.startswith("model name"))
    except (OSError, StopIteration):
        pass
    ok = all((r["head"] == "prob" and r["max_abs_diff"] <= PROB_MAX_ABS_DIFF)
             or (r["head"] == "cls" and r["pixel_agreement"] >= CLS_MIN_AGREEMENT) for r in rows)
    args.out.mkdir(parents=True, exist_ok=True)
    stem = f"export-acceptance-cpu-{env['date']}"
    (args.out / f"{stem}.json").write_text(json.dumps({"env": env, "all_pass": ok, "rows": rows}, indent=2) + "\n")
    lines = [f"# Export acceptance ({env['date']})", "",
             f"PyTorch {env['torch']} vs onnxruntime {env['onnxruntime']} (CPU), opset 17, {env['weights']}; "
             f"CPU: {env.get('cpu', env['machine'])}.", "",
             f"Bars: prob max |diff| <= {PROB_MAX_ABS_DIFF:g}; cls pixel agreement >= {100 * CLS_MIN_AGREEMENT:.2f} %. "
             f"All pass: **{ok}**.", "",
             "| arch | head | resolution | nodes | MatMul | Gather | max abs diff | pixel agreement |",
             "|---|---|---|---|---|---|---|---|"]
    for r in rows:
        diff = f"{r['max_abs_diff']:.2e}" if "max_abs_diff" in r else "-"
        lines.append(f"| {r['arch']} | {r['head']} | {r['resolution']} | {r['nodes']} | {r['matmul_nodes']} | "
                     f"{r['gather_nodes']} | {diff} | {100 * r['pixel_agreement']:.4f} % |")
    (args.out / f"{stem}.md").write_text("\n".join(lines) + "\n")
    print(f"wrote {args.out / stem}.json and .md; all pass: {ok}")
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
