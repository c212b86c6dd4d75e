"""The package's architecture: subpackages in an order (core, model, data, export, runtime,
quantize, bench, serve, train, then the top level), and layers inside each. Every module imports
only from a package below its own or from a lower layer of its own package (no cycle, nothing that
runs up), whether the import sits at the top of the module or inside a function. Imports under
``if TYPE_CHECKING:`` do not run and do not count. A new module must be placed here; docs/DESIGN.md
shows the same table, a row per package.
"""

from __future__ import annotations

import ast
from pathlib import Path
from typing import Dict, List, Set, Tuple

PKG = Path(__file__).resolve().parents[1] / "fastscnn_edge"

# The packages, bottom first, and inside each its modules' layers, bottom first. A module may import
# from a package below its own, or from a lower layer of its own package. "" is the package's top
# level; "commands.*" stands for every module of fastscnn_edge/commands not named elsewhere.
PACKAGES: List[Tuple[str, List[List[str]]]] = [
    ("core", [  # the foundation: nothing heavy
        ["version", "errors"],
        ["vocab"],  # the words of every option, each defined once
        ["fileio", "machine", "schema", "progress", "stats", "envinfo", "precision", "conformance"],
        ["paths", "resolution"],  # file names (tags from the precision table); the Resolution value
        ["metadata"],  # ModelMeta: what every artifact carries
    ]),
    ("model", [["network", "registry"], ["checkpoint"], ["convert"]]),
    ("data", [["preprocess", "metrics", "synth"], ["datasets"], ["palette"]]),
    ("export", [["cls_head", "onnx_rules"], ["to_onnx"]]),
    ("runtime", [
        ["capability", "cuda_buffers", "ov_runtime", "runner", "trt"],
        ["sidecar", "trt.lib"],
        ["artifact", "describe", "trt.builder"],
        ["trt.runner"],
        ["backends"],  # open_runner, the one
    ]),
    ("quantize", [["qdq", "calibration", "quant_eval"], ["sensitivity"], ["convert"]]),
    ("bench", [["cases", "report", "evaluate"], ["timing"]]),
    ("serve", [["rosimage", "stream", "triton_templates"], ["bags", "ros2", "triton"], ["triton_server", "predict"]]),
    ("train", [["data"], ["loop"]]),
    ("", [  # the top level: the one workflow across packages, the API, the CLI
        ["engine"],  # the engine build: quantize, then runtime.trt's builder
        ["api"],
        [""],  # fastscnn_edge/__init__.py re-exports the API
        ["commands.options", "commands.progress"],
        ["commands.*"],
        ["cli"],
        ["__main__"],
    ]),
]

# (package index, layer index) of every module named above, by dotted name under fastscnn_edge
LAYERS: Dict[str, Tuple[int, int]] = {
    (f"{pkg}.{m}" if pkg and m else pkg or m): (i, j)
    for i, (pkg, layers) in enumerate(PACKAGES) for j, layer in enumerate(layers) for m in layer
}
WILDCARD = LAYERS.pop("commands.*")
SUBPACKAGES = [pkg for pkg, _ in PACKAGES]


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


def _layer_of() -> Dict[str, Tuple[int, int]]:
    """Every module's (package, layer); a subpackage's own ``__init__`` sits below its modules
    (it imports nothing: test_subpackage_inits_import_nothing); (-1, -1): not placed."""
    out = {}
    for path in sorted(PKG.rglob("*.py")):
        mod = _module(path)
        if mod in LAYERS:
            out[mod] = LAYERS[mod]
        elif mod.startswith("commands.") or mod == "commands":
            out[mod] = WILDCARD
        elif path.name == "__init__.py" and mod.split(".")[0] in SUBPACKAGES:
            out[mod] = (SUBPACKAGES.index(mod.split(".")[0]), -1)
        else:
            out[mod] = (-1, -1)
    return out


def test_every_module_has_a_layer():
    unplaced = sorted(m for m, where in _layer_of().items() if where[0] < 0)
    assert unplaced == [], f"place these modules in PACKAGES (and docs/DESIGN.md): {unplaced}"
    stale = sorted(m for m in LAYERS if not _is_module(m))
    assert stale == [], f"PACKAGES names modules that do not exist: {stale}"


def test_modules_import_only_from_lower_layers():
    layer = _layer_of()
    wrong = []
    for path in sorted(PKG.rglob("*.py")):
        mod = _module(path)
        for dep in sorted(_imports(path)):
            if dep == mod or dep not in layer:
                continue
            (p, l), (dp, dl) = layer[mod], layer[dep]
            if dp > p or (dp == p and dl >= l):
                wrong.append(f"{mod or 'fastscnn_edge'} ({SUBPACKAGES[p] or 'top level'}, layer {l}) imports "
                             f"{dep or 'fastscnn_edge'} ({SUBPACKAGES[dp] or 'top level'}, layer {dl})")
    assert wrong == [], "\n".join(wrong)


def test_subpackage_inits_import_nothing():
    """A subpackage's ``__init__`` is its description, so importing one module of a package never
    loads the rest of it."""
    heavy = {str(p.relative_to(PKG)): sorted(_imports(p)) for p in PKG.rglob("__init__.py")
             if p.parent != PKG and _imports(p)}
    assert heavy == {}


def test_the_table_is_in_the_design_notes():
    """docs/DESIGN.md has a row per package (``| `core` |``, ``| top level |``) naming each of its modules."""
    rows = {line.split("|")[1].strip().strip("`"): line
            for line in (PKG.parent / "docs" / "DESIGN.md").read_text(encoding="utf-8").splitlines()
            if line.startswith("| ")}
    missing = []
    for pkg, layers in PACKAGES:
        row = rows.get(pkg or "top level", "")
        missing += [f"{pkg or 'top level'}: {m or '__init__'}" for layer in layers for m in layer
                    if m and m != "commands.*" and f"`{m}`" not in row]
        if not row:
            missing.append(f"the row of {pkg or 'top level'}")
    assert missing == [], f"docs/DESIGN.md's layer table lacks {missing}"


def test_tests_mirror_the_package():
    """Every library module has its tests at the same place under tests/: fastscnn_edge/core/paths.py
    -> tests/core/test_paths.py (the commands are tested through the CLI, tests/test_cli.py and each
    package's own tests)."""
    tests = PKG.parent / "tests"
    missing = []
    for path in sorted(PKG.rglob("*.py")):
        rel = path.relative_to(PKG)
        if path.name in ("__init__.py", "__main__.py") or rel.parts[0] == "commands":
            continue
        want = tests.joinpath(*rel.parts[:-1], f"test_{path.stem}.py")
        if not want.is_file():
            missing.append(str(want.relative_to(PKG.parent)))
    assert missing == [], f"modules without their test file: {missing}"
