"""The package's layers: every module imports only from the layers below it (no cycle, nothing that
runs up the layers), whether the import sits at the top of the module or inside a function.
Imports under ``if TYPE_CHECKING:`` do not run and do not count. A new module must be placed here;
docs/DESIGN.md shows the same table.
"""

from __future__ import annotations

import ast
from pathlib import Path
from typing import Dict, List, Set

PKG = Path(__file__).resolve().parents[1] / "fastscnn_edge"

# Bottom first. "commands.*" stands for every module of fastscnn_edge/commands not named elsewhere.
LAYERS: List[List[str]] = [
    ["version", "errors"],  # foundation
    ["vocab"],  # the words of every option, each defined once
    ["fileio", "machine", "schema", "progress", "stats", "cuda_buffers", "model", "metrics", "onnx_rules", "cls_head",
     "precision", "trt"],  # utilities, each on the foundation alone; the precision table
    ["paths", "resolution", "capability", "trt.lib", "ov_runtime", "registry", "conformance", "envinfo"],  # values;
    # the capability table (reads precision); the TensorRT and OpenVINO call layers
    ["metadata"],  # ModelMeta: what every artifact carries
    ["preprocess", "checkpoint", "sidecar"],  # stored formats
    ["artifact", "runner", "datasets", "convert", "synth", "triton_templates", "rosimage"],  # files read once, the runner interface
    ["palette", "train_data", "calibration", "report", "triton", "export", "trt.runner", "trt.builder", "describe", "qdq",
     "quant_eval"],  # single steps
    ["sensitivity"],  # mixed INT8: sensitivity and the drop budget, over qdq and quant_eval
    ["backends", "quantize", "train", "bench", "serving", "stream"],  # runners, precision, training, cases, a server, the stream runtime
    ["evaluate", "timing", "engine", "bags", "ros2"],  # workflows: eval, timing, the engine build; ROS 2 bags and the node
    ["predict"],
    ["api"],  # the public Python API
    [""],  # the package itself (fastscnn_edge/__init__.py re-exports the API)
    ["commands.options", "commands.progress"],  # what the commands share
    ["commands.*"],  # one module per command
    ["cli"],
    ["__main__"],
]


def _module(path: Path) -> str:
    rel = path.relative_to(PKG).with_suffix("")
    parts = [p for p in rel.parts if p != "__init__"]
    return ".".join(parts)


def _is_module(name: str) -> bool:
    p = PKG.joinpath(*name.split(".")) if name else PKG
    return p.with_suffix(".py").is_file() or (p / "__init__.py").is_file()


def _imports(path: Path) -> Set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    skip: Set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and getattr(node.test, "id", "") == "TYPE_CHECKING":
            skip.update(id(n) for n in ast.walk(node))
    found: Set[str] = set()
    for node in ast.walk(tree):
        if id(node) in skip:
            continue
        if isinstance(node, ast.ImportFrom) and node.module and node.module.split(".")[0] == "fastscnn_edge":
            base = node.module[len("fastscnn_edge"):].lstrip(".")
            for alias in node.names:
                sub = f"{base}.{alias.name}".lstrip(".")
                found.add(sub if _is_module(sub) else base)
        elif isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name.split(".")[0] == "fastscnn_edge":
                    found.add(alias.name[len("fastscnn_edge"):].lstrip("."))
    return found


def _layer_of() -> Dict[str, int]:
    named = {m: i for i, layer in enumerate(LAYERS) for m in layer if m != "commands.*"}
    wildcard = next(i for i, layer in enumerate(LAYERS) if "commands.*" in layer)
    out = {}
    for path in sorted(PKG.rglob("*.py")):
        mod = _module(path)
        if mod in named:
            out[mod] = named[mod]
        elif mod.startswith("commands.") or mod == "commands":
            out[mod] = wildcard
        else:
            out[mod] = -1
    return out


def test_every_module_has_a_layer():
    unplaced = sorted(m for m, layer in _layer_of().items() if layer < 0)
    assert unplaced == [], f"place these modules in LAYERS (and docs/DESIGN.md): {unplaced}"
    stale = sorted(m for layer in LAYERS for m in layer if m != "commands.*" and not _is_module(m))
    assert stale == [], f"LAYERS names modules that do not exist: {stale}"


def test_modules_import_only_from_lower_layers():
    layer = _layer_of()
    wrong = []
    for path in sorted(PKG.rglob("*.py")):
        mod = _module(path)
        for dep in sorted(_imports(path)):
            if dep == mod or dep not in layer:
                continue
            if layer[dep] >= layer[mod]:
                wrong.append(f"{mod or 'fastscnn_edge'} (layer {layer[mod]}) imports {dep or 'fastscnn_edge'} (layer {layer[dep]})")
    assert wrong == [], "\n".join(wrong)


def test_the_table_is_in_the_design_notes():
    design = (PKG.parent / "docs" / "DESIGN.md").read_text(encoding="utf-8")
    missing = [m for layer in LAYERS for m in layer if m and m != "commands.*" and f"`{m}`" not in design]
    assert missing == [], f"docs/DESIGN.md's layer table lacks {missing}"
