"""How the local Triton server (`fastscnn-edge serve`) holds up under concurrent clients, and what
dynamic batching changes. Loopback only, bounded: a fixed request count and a time limit per level.

    python benchmarks/triton_load.py                 # -> benchmarks/results/triton-load-cpu-<date>.{json,md}
    python benchmarks/triton_load.py --quick --out /tmp/tl   # seconds: checks the script only

One model: a dynamic-batch `cls` export with uint8 BGR frame input (random weights: weights do not
change the runtime), served through Triton's Python backend by onnxruntime on the CPU, 1 instance,
``--threads`` intra-op threads. Two server configs: dynamic batching on (max batch 8, queue delay
``--queue-delay-us``) and off. For each, client concurrency 1/2/4/8 (threads, one HTTP client each,
batch-1 requests of the same random frames), ``--requests`` requests per level after a warm-up, or
fewer where ``--time-limit`` seconds run out. Reported: throughput, p50/p99 request latency (client
side: serialization + loopback + queue + model), and from Triton's own statistics the mean batch the
model ran. Clients and server share the machine's cores.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Dict, List

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def percentile(values: List[float], q: float) -> float:
    s = sorted(values)
    if not s:
        return float("nan")
    k = (len(s) - 1) * q / 100.0
    lo, hi = int(k), min(int(k) + 1, len(s) - 1)
    return s[lo] + (s[hi] - s[lo]) * (k - lo)


def model_stats(client, model: str) -> Dict[str, int]:  # noqa: ANN001
    st = client.get_inference_statistics(model)["model_stats"][0]
    return {"inferences": int(st["inference_count"]), "executions": int(st["execution_count"])}


def run_level(url: str, model: str, frames, concurrency: int, requests: int, time_limit: float) -> dict:  # noqa: ANN001
    import tritonclient.http as th

    lock = threading.Lock()
    state = {"next": 0}
    latencies: List[float] = []
    errors: List[str] = []
    deadline = time.perf_counter() + time_limit

    def worker() -> None:
        client = th.InferenceServerClient(url, concurrency=1)
        try:
            while True:
                with lock:
                    i = state["next"]
                    if i >= requests or time.perf_counter() >= deadline:
                        return
                    state["next"] += 1
                x = frames[i % len(frames)]
                inp = th.InferInput("frames", list(x.shape), "UINT8")
                inp.set_data_from_numpy(x)
                t0 = time.perf_counter()
                try:
                    client.infer(model, [inp], outputs=[th.InferRequestedOutput("labels")]).as_numpy("labels")
                except Exception as exc:  # noqa: BLE001 - counted and reported, the run goes on
                    with lock:
                        errors.append(str(exc)[:200])
                    continue
                with lock:
                    latencies.append(1000 * (time.perf_counter() - t0))
        finally:
            client.close()

    stats_client = th.InferenceServerClient(url)
    before = model_stats(stats_client, model)
    t0 = time.perf_counter()
    threads = [threading.Thread(target=worker) for _ in range(concurrency)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    wall = time.perf_counter() - t0
    after = model_stats(stats_client, model)
    stats_client.close()
    done = len(latencies)
    execs = after["executions"] - before["executions"]
    return {
        "concurrency": concurrency, "requests": done, "errors": len(errors), "first_error": errors[0] if errors else None,
        "stopped_by_time_limit": done + len(errors) < requests, "wall_s": round(wall, 3),
        "throughput_fps": round(done / wall, 2) if wall > 0 else None,
        "p50_ms": round(percentile(latencies, 50), 2), "p99_ms": round(percentile(latencies, 99), 2),
        "mean_ms": round(statistics.fmean(latencies), 2) if latencies else None,
        "max_ms": round(max(latencies), 2) if latencies else None,
        "model_executions": execs,
        "mean_batch": round((after["inferences"] - before["inferences"]) / execs, 2) if execs else None,
    }


def triton_versions(env: Path) -> Dict[str, str]:
    """Package versions inside the Triton environment (from its dist-info, nothing imported)."""
    out: Dict[str, str] = {}
    for site in env.glob("lib/python3.*/site-packages"):
        out["python"] = site.parent.name[len("python"):]
        for name in ("nvidia_pytriton", "onnxruntime", "numpy", "tritonclient"):
            for d in site.glob(f"{name}-*.dist-info"):
                out[name.replace("_", "-")] = d.name[len(name) + 1: -len(".dist-info")]
    return out


def main(argv: List[str] | None = None) -> int:
    import numpy as np

    from fastscnn_edge import __version__
    from fastscnn_edge.core import envinfo
    from fastscnn_edge.core.resolution import parse_resolution
    from fastscnn_edge.export.to_onnx import ExportSpec, export_onnx
    from fastscnn_edge.serve.triton import DEFAULT_QUEUE_DELAY_US, write_repository
    from fastscnn_edge.serve.triton_server import find_triton, start_server

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--res", default="256x512", help="HxW of the frames (the export is dynamic; default 256x512)")
    ap.add_argument("--concurrency", default="1,2,4,8", help="client concurrency levels")
    ap.add_argument("--requests", type=int, default=96, help="requests per level (after the warm-up)")
    ap.add_argument("--warmup", type=int, default=8, help="warm-up requests per server")
    ap.add_argument("--time-limit", type=float, default=60.0, help="seconds per level at most")
    ap.add_argument("--threads", type=int, default=2, help="onnxruntime intra-op threads of the model instance")
    ap.add_argument("--queue-delay-us", type=int, default=DEFAULT_QUEUE_DELAY_US,
                    help="dynamic batching: longest wait for a fuller batch (default: what `fastscnn-edge triton` writes)")
    ap.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results")
    ap.add_argument("--quick", action="store_true", help="64x128, 8 requests per level: checks the script only")
    args = ap.parse_args(argv)
    if args.quick:
        args.res, args.requests, args.warmup, args.time_limit = "64x128", 8, 2, 20.0
    res = parse_resolution(args.res)
    levels = [int(c) for c in args.concurrency.split(",")]
    install = find_triton()
    load_before = os.getloadavg()

    with tempfile.TemporaryDirectory() as tmp:
        onnx = export_onnx(ExportSpec(res=res, dynamic=True, input_format="bgr8",
                                      output=Path(tmp) / "fastscnn_bgr8_dyn.onnx")).path
        rng = np.random.default_rng(0)
        frames = [rng.integers(0, 256, size=(1, *res, 3), dtype=np.uint8) for _ in range(4)]
        configs = []
        for batching in (False, True):
            label = "dynamic batching" if batching else "no dynamic batching"
            repo = write_repository([onnx], Path(tmp) / f"repo_{int(batching)}", backend="python", kind="cpu",
                                    max_batch=8, dynamic_batching=batching, queue_delay_us=args.queue_delay_us,
                                    threads=args.threads).path
            model = "fastscnn_bgr8_dyn"
            with start_server(repo, timeout=120) as server:
                import tritonclient.http as th

                c = th.InferenceServerClient(server.http_url)
                server_meta = c.get_server_metadata()
                c.close()
                run_level(server.http_url, model, frames, 1, args.warmup, args.time_limit)
                rows = []
                for conc in levels:
                    row = run_level(server.http_url, model, frames, conc, args.requests, args.time_limit)
                    print(f"{label:>20}  concurrency {conc}: {row['throughput_fps']} fps, p50 {row['p50_ms']} ms, "
                          f"p99 {row['p99_ms']} ms, mean batch {row['mean_batch']}, {row['requests']} requests"
                          + (f", {row['errors']} errors" if row["errors"] else ""), flush=True)
                    rows.append(row)
            configs.append({"dynamic_batching": batching, "max_batch_size": 8,
                            "max_queue_delay_us": args.queue_delay_us if batching else None, "levels": rows})

    load_after = os.getloadavg()
    env = envinfo.collect({"client_packages": envinfo.package_versions(["tritonclient", "grpcio", "numpy"]),
                           "triton_env": triton_versions(install.env),
                           "triton_server": {"name": server_meta.get("name"), "version": server_meta.get("version")},
                           "load_average_1_5_15_before": [round(x, 2) for x in load_before],
                           "load_average_1_5_15_after": [round(x, 2) for x in load_after]})
    cores = env["cpu"].get("logical") if isinstance(env["cpu"], dict) else None  # type: ignore[union-attr]
    others = (f"other work was running on it at the same time (1-min load average {load_before[0]:.2f} before this "
              "run started)" if load_before[0] >= 0.5 else
              f"the machine was otherwise idle when the run started (1-min load average {load_before[0]:.2f})")
    date = dt.datetime.now(dt.timezone.utc)
    doc = {
        "tool": "benchmarks/triton_load.py", "toolkit_version": __version__, "date_utc": date.isoformat(timespec="seconds"),
        "settings": {"resolution": list(res), "model": "paper cls, dynamic batch, bgr8 uint8 frames, random weights",
                     "backend": "Triton Python backend, onnxruntime CPUExecutionProvider", "instances": 1,
                     "intra_op_threads": args.threads, "requests_per_level": args.requests, "warmup": args.warmup,
                     "time_limit_s_per_level": args.time_limit, "client": "tritonclient.http, one client per thread, batch 1",
                     "address": "127.0.0.1 (loopback)", "quick": args.quick},
        "environment": env, "configs": configs,
        "note": (f"Clients and server share this machine's {cores or '?'} logical cores, and {others}; "
                 "the numbers are indicative."),
    }
    args.out.mkdir(parents=True, exist_ok=True)
    stem = f"triton-load-cpu-{date:%Y-%m-%d}" + ("-quick" if args.quick else "")
    (args.out / f"{stem}.json").write_text(json.dumps(doc, indent=2) + "\n")
    (args.out / f"{stem}.md").write_text(markdown(doc))
    print(f"wrote {args.out / stem}.json and .md")
    return 0


def markdown(doc: dict) -> str:
    env, s = doc["environment"], doc["settings"]
    tv = env.get("triton_env", {})
    lines = [
        f"# Triton load test, CPU ({doc['date_utc'][:10]})", "",
        f"`{doc['tool']}`, fastscnn-edge {doc['toolkit_version']}. Machine: {env['machine']}, "
        f"{env['cpu']['model']} ({env['cpu'].get('logical')} logical cores), {env['os']}.",
        f"Server: Triton {env['triton_server'].get('version')} from nvidia-pytriton {tv.get('nvidia-pytriton')} "
        f"(Python {tv.get('python')}, onnxruntime {tv.get('onnxruntime')}, numpy {tv.get('numpy')}); "
        f"client: tritonclient {env['client_packages'].get('tritonclient', '?')} on Python {env['python']}.", "",
        f"Model: {s['model']} at {s['resolution'][0]}x{s['resolution'][1]}; {s['backend']}, {s['instances']} instance, "
        f"{s['intra_op_threads']} intra-op threads. Load: {s['client']}, on {s['address']}; "
        f"{s['requests_per_level']} requests per level after {s['warmup']} warm-up, at most "
        f"{s['time_limit_s_per_level']:g} s per level. Latency is per request, client side.", "",
        f"**{doc['note']}**", "",
        "| dynamic batching | concurrency | requests | throughput (fps) | p50 (ms) | p99 (ms) | mean batch run |",
        "|---|---|---|---|---|---|---|",
    ]
    for c in doc["configs"]:
        on = f"on (max {c['max_batch_size']}, delay {c['max_queue_delay_us']} us)" if c["dynamic_batching"] else "off"
        for r in c["levels"]:
            lines.append(f"| {on} | {r['concurrency']} | {r['requests']}{' (time limit)' if r['stopped_by_time_limit'] else ''}"
                         f"{', ' + str(r['errors']) + ' errors' if r['errors'] else ''} | {r['throughput_fps']} | "
                         f"{r['p50_ms']} | {r['p99_ms']} | {r['mean_batch']} |")
    off = {r["concurrency"]: r for r in doc["configs"][0]["levels"]}
    on = {r["concurrency"]: r for r in doc["configs"][1]["levels"]}
    lines += ["", "What dynamic batching changed (on vs off, same concurrency):", ""]
    for conc in sorted(set(off) & set(on)):
        a, b = off[conc], on[conc]
        if a["throughput_fps"] and b["throughput_fps"]:
            lines.append(f"- concurrency {conc}: throughput x{b['throughput_fps'] / a['throughput_fps']:.2f} "
                         f"({a['throughput_fps']} -> {b['throughput_fps']} fps), p50 {a['p50_ms']} -> {b['p50_ms']} ms, "
                         f"p99 {a['p99_ms']} -> {b['p99_ms']} ms, mean batch {a['mean_batch']} -> {b['mean_batch']}")
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    raise SystemExit(main())
