"""The options several commands share, defined once: one long name and one short flag per meaning.

Short flags, across every command: ``-a`` --arch, ``-b`` --backend, ``-d`` --device, ``-f``
--format (what predict writes), ``-n`` --limit (how many inputs), ``-o`` --output, ``-r`` --res,
``-t`` --threads, ``-w`` --weights. A flag has no other meaning anywhere
(``tests/test_cli.py`` checks it over the whole command tree).
"""

from __future__ import annotations

from typing import Any, Optional

import typer

ARTIFACT_HELP = "A .onnx file (any precision), a TensorRT .engine, or a native .pt checkpoint."
DATA_FORMAT_HELP = "cityscapes: leftImg8bit/ + gtFine/ label IDs; folder: images/, masks/ (train IDs), classes.txt."


def res(help: str = "HxW to run at: required for checkpoints (default 1024x2048) and dynamic ONNX.") -> Any:  # noqa: A002
    return typer.Option(None, "--res", "-r", help=help)


def res_list(help: str) -> Any:  # noqa: A002
    return typer.Option(None, "--res", "-r", help=help)


def backend(help: str = "auto | tensorrt | onnxruntime | openvino | torch (auto on a CPU: OpenVINO where installed, except for the INT8 CPU form).") -> Any:  # noqa: A002
    return typer.Option("auto", "--backend", "-b", help=help)


def device(help: str = "auto | cpu | cuda.") -> Any:  # noqa: A002
    return typer.Option("auto", "--device", "-d", help=help)


def threads(help: str = "CPU threads for the runtime (default: its own).") -> Any:  # noqa: A002
    return typer.Option(None, "--threads", "-t", help=help)


def output(default: Optional[Any] = None, help: str = "Output file.") -> Any:  # noqa: A002
    return typer.Option(default, "--output", "-o", help=help)


def weights(help: str = "Native checkpoint (.pt). Default: random weights.") -> Any:  # noqa: A002
    return typer.Option(None, "--weights", "-w", help=help)


def arch(help: str = "paper | tramac | mmseg (default: the checkpoint's, else paper).") -> Any:  # noqa: A002
    return typer.Option(None, "--arch", "-a", help=help)


def data(required: bool = True, help: str = "Dataset root.") -> Any:  # noqa: A002
    return typer.Option(... if required else None, "--data", help=help)


def data_format() -> Any:
    return typer.Option("cityscapes", "--data-format", help=DATA_FORMAT_HELP)


def split(help: str = "Split folder (Cityscapes: train | val; folder: a sub-folder if present).") -> Any:  # noqa: A002
    return typer.Option("val", "--split", help=help)


def limit(help: str = "Only the first N images (sorted by name).") -> Any:  # noqa: A002
    return typer.Option(None, "--limit", "-n", help=help)


def json_out(help: str = "Write every number here.") -> Any:  # noqa: A002
    return typer.Option(None, "--json", help=help)
