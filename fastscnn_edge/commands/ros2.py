"""`fastscnn-edge ros2`: the model as a ROS 2 node (camera in, label mask out)."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from fastscnn_edge.commands import options


def ros2_cmd(
    artifact: Path = typer.Argument(..., help=options.ARTIFACT_HELP),
    image_topic: str = typer.Option("/camera/image_raw", "--image-topic", help="The sensor_msgs/Image topic (bgr8, rgb8, mono8)."),
    compressed: bool = typer.Option(False, "--compressed", help="Subscribe sensor_msgs/CompressedImage (JPEG/PNG) instead."),
    camera_info: Optional[str] = typer.Option(None, "--camera-info", help="A CameraInfo topic: republished on ~/camera_info, rescaled to the mask."),
    color: Optional[str] = typer.Option(None, "--color", help="Also publish ~/color (rgb8): color (palette) or overlay."),
    reliable: bool = typer.Option(False, "--reliable", help="Subscribe with reliable QoS (default: sensor data, best effort; the outputs are always reliable, keep-last)."),
    depth: int = typer.Option(1, "--depth", help="QoS history depth of the subscription and publishers."),
    mask_size: str = typer.Option("input", "--mask-size", help="input: masks at the camera's size; model: at the model's resolution (cheaper)."),
    name: str = typer.Option("fastscnn", "--name", help="Node name (topics are /<name>/labels, ...)."),
    res: Optional[str] = options.res(),
    backend: str = options.backend(),
    device: str = options.device(),
    threads: Optional[int] = options.threads(),
    max_frames: Optional[int] = typer.Option(None, "--frames", help="Stop after N frames received (default: run until Ctrl-C)."),
    duration: Optional[float] = typer.Option(None, "--duration", help="Stop after this many seconds."),
    json_out: Optional[Path] = options.json_out("Write the node's stream report (throughput, latency, drops, bottleneck) here on exit."),
) -> None:
    """Run a ROS 2 node: subscribe images, publish ~/labels (mono8 train IDs) with the input's header."""
    from fastscnn_edge.serve.ros2 import NodeOptions, require_rclpy, run_node

    opts = NodeOptions(image_topic=image_topic, compressed=compressed, camera_info_topic=camera_info, color=color,
                       reliable=reliable, depth=depth, output_size=mask_size, node_name=name, max_frames=max_frames,
                       duration=duration)
    opts.check()
    if json_out is not None:
        from fastscnn_edge.core.fileio import check_writable

        check_writable(json_out)
    require_rclpy()  # before loading the model
    from fastscnn_edge.commands.progress import bar
    from fastscnn_edge.core.resolution import parse_resolution
    from fastscnn_edge.runtime.backends import open_runner

    with open_runner(artifact, backend=backend, device=device, resolution=parse_resolution(res) if res else None,
                     threads=threads) as runner:
        with bar(transient=True) as progress:
            rep = run_node(runner, opts, progress=progress, log=lambda m: typer.echo(m, err=True))
    if json_out is not None:
        import json

        from fastscnn_edge.core.envinfo import collect
        from fastscnn_edge.core.fileio import atomic_write_text

        atomic_write_text(json_out, json.dumps({"artifact": str(artifact), "node": opts.__dict__, "stream": rep.to_json(),
                                                "environment": collect()}, indent=2) + "\n")
    typer.echo(f"ros2 node /{name}: {rep.summary()}, {rep.streams[0]['bad_frames']} bad frame(s) skipped")
    if rep.interrupted_by is not None:
        raise rep.interrupted_by


def register(app: typer.Typer) -> None:
    app.command("ros2")(ros2_cmd)
