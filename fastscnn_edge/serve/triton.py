"""Triton Inference Server model repositories written from our artifacts' metadata.

``write_repository([...], "repo")`` makes one model folder per artifact (or, with ``name=``, one
model whose versions are the artifacts, in order)::

    repo/<model>/config.pbtxt        platform tensorrt_plan (engines) | onnxruntime_onnx (ONNX)
    repo/<model>/labels.txt          the class names, one per line (the output's label_filename)
    repo/<model>/<version>/model.plan   (+ model.plan.json, the engine's sidecar)  | model.onnx

``backend="openvino"`` writes ONNX files for Triton's OpenVINO backend (CPU instances; ``backend:
"openvino"``, ``default_model_filename: "model.onnx"``, ``PERFORMANCE_HINT``/``NUM_STREAMS``/
``INFERENCE_NUM_THREADS`` parameters). That backend compiles the file as it is, so a dense cls head is
written in the refined form OpenVINO runs fastest (:func:`fastscnn_edge.runtime.ov_runtime.best_graph`, the
same labels), with its metadata saying so.

``backend="python"`` writes, for ONNX files, the Triton Python-backend form instead: the same
inputs, outputs and batching, served by a ``model.py`` that runs ``model.onnx`` with onnxruntime
(the ``tritonserver`` inside the ``nvidia-pytriton`` wheel has only the Python backend; see
``fastscnn_edge.serve.triton_server``).

Everything comes from the artifact's metadata (ONNX ``metadata_props``; the engine's sidecar): I/O
names, dtypes and dims, the batch dimension, class names, and the build facts (TensorRT version,
GPU, compute capability) that go into the config's ``parameters`` so a mismatch with the server
is visible. Pure Python: ``onnx`` is imported only to read ONNX files.
"""

from __future__ import annotations

import re
import shutil
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Dict, List, Optional, Sequence, Tuple

from fastscnn_edge.core.errors import UserError
from fastscnn_edge.core.metadata import ModelMeta
from fastscnn_edge.core.vocab import check
from fastscnn_edge.runtime.artifact import Artifact, open_artifact
from fastscnn_edge.serve.triton_templates import TRITON_DTYPES, ArtifactInfo, Tensor  # noqa: F401 - the shared types live below

KINDS = ("auto", "gpu", "cpu")
PARAM_PREFIX = "fastscnn_edge."
DEFAULT_MAX_BATCH = 8
DEFAULT_QUEUE_DELAY_US = 2000



@dataclass
class ModelConfig:
    """One model's ``config.pbtxt``, as data (``to_pbtxt`` writes Triton's text format)."""

    name: str
    platform: Optional[str]  # tensorrt_plan | onnxruntime_onnx | None for backend models
    backend: Optional[str]  # "python" for the Python-backend form, "openvino" for Triton's OpenVINO backend
    max_batch_size: int
    inputs: List[Tuple[str, str, List[int]]]  # name, TYPE_*, dims (without the batch dim when batching)
    outputs: List[Tuple[str, str, List[int]]]
    kind: str  # KIND_GPU | KIND_CPU
    instances: int = 1
    dynamic_batching: bool = False
    queue_delay_us: int = DEFAULT_QUEUE_DELAY_US
    preferred_batch_sizes: List[int] = field(default_factory=list)
    default_model_filename: Optional[str] = None
    label_filename: Optional[str] = "labels.txt"
    all_versions: bool = False
    parameters: Dict[str, str] = field(default_factory=dict)
    notes: List[str] = field(default_factory=list)

    def to_pbtxt(self) -> str:
        lines = [f"# {n}" for n in self.notes]
        lines.append(f"name: {_q(self.name)}")
        if self.platform:
            lines.append(f"platform: {_q(self.platform)}")
        if self.backend:
            lines.append(f"backend: {_q(self.backend)}")
        if self.default_model_filename:
            lines.append(f"default_model_filename: {_q(self.default_model_filename)}")
        lines.append(f"max_batch_size: {int(self.max_batch_size)}")
        if self.all_versions:
            lines.append("version_policy: { all { } }")
        for key, tensors in (("input", self.inputs), ("output", self.outputs)):
            lines.append(f"{key} [")
            for i, (name, dtype, dims) in enumerate(tensors):
                label = (f"\n    label_filename: {_q(self.label_filename)}"
                         if key == "output" and self.label_filename and i == 0 else "")
                sep = "," if i < len(tensors) - 1 else ""
                lines.append(f"  {{\n    name: {_q(name)}\n    data_type: {dtype}\n"
                             f"    dims: [ {', '.join(str(int(d)) for d in dims)} ]{label}\n  }}{sep}")
            lines.append("]")
        lines.append(f"instance_group [ {{ count: {int(self.instances)} kind: {self.kind} }} ]")
        if self.dynamic_batching:
            pref = (f"\n  preferred_batch_size: [ {', '.join(str(b) for b in self.preferred_batch_sizes)} ]"
                    if self.preferred_batch_sizes else "")
            lines.append(f"dynamic_batching {{{pref}\n  max_queue_delay_microseconds: {int(self.queue_delay_us)}\n}}")
        for k, v in self.parameters.items():
            lines.append(f"parameters {{ key: {_q(k)} value: {{ string_value: {_q(v)} }} }}")
        return "\n".join(lines) + "\n"


def _q(text: str) -> str:
    """A protobuf text-format string literal."""
    out = str(text).replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n").replace("\r", "\\r")
    return f'"{out}"'


def parse_config(text: str):  # noqa: ANN201 - tritonclient.grpc.model_config_pb2.ModelConfig
    """Parse ``config.pbtxt`` text with Triton's own schema (needs ``tritonclient[grpc]``).

    Raises ``google.protobuf.text_format.ParseError`` where the text does not fit the schema.
    """
    from google.protobuf import text_format
    from tritonclient.grpc import model_config_pb2

    return text_format.Parse(text, model_config_pb2.ModelConfig())


# ---------------------------------------------------------------------------------------------
# reading artifacts


def describe_artifact(path: "str | Path | Artifact") -> ArtifactInfo:
    """What the repository needs of an artifact, from its checked metadata (read once, never run);
    UserError for a checkpoint, a file without metadata, or an engine without its sidecar."""
    a = open_artifact(path)
    if a.kind == "checkpoint":
        raise UserError(f"{a.path} is a PyTorch checkpoint; Triton serves ONNX files and TensorRT engines.",
                        fix=f"export it first: fastscnn-edge export --weights {a.path}")
    if a.kind == "onnx":
        return _describe_onnx(a)
    return _describe_engine(a)


def _tensors(sigs: Sequence[Any]) -> List[Tensor]:
    return [Tensor(t.name, t.dtype, [-1 if d is None else int(d) for d in t.shape]) for t in sigs]


def _meta_parameters(meta: ModelMeta) -> Dict[str, str]:
    res = meta.resolution
    values = {
        "arch": meta.arch, "head": meta.head, "input_format": meta.input_format,
        "resolution": f"{res[0]}x{res[1]}" if res else "dynamic",
        "num_classes": str(meta.num_classes), "channel_order": meta.channel_order,
        "mean": ",".join(f"{v:g}" for v in meta.mean), "std": ",".join(f"{v:g}" for v in meta.std),
        "labels_dtype": meta.labels_dtype, "precision": meta.precision,
        "weights_sha256": meta.weights_sha256, "weights_source": meta.weights_source,
        "toolkit_version": meta.toolkit_version,
    }
    return {k: v for k, v in values.items() if v not in ("", None)}


def _describe_onnx(a: Artifact) -> ArtifactInfo:
    meta = a.meta
    params = _meta_parameters(meta)
    params["source_file"] = a.path.name
    outputs = _tensors(a.outputs)
    for t in outputs:  # a dynamic export leaves the class dimension unnamed; the metadata knows it
        if meta.head in ("prob", "logits") and len(t.shape) == 4 and t.shape[1] == -1:
            t.shape[1] = int(meta.num_classes)
    return ArtifactInfo(a.path, "onnx", meta, _tensors(a.inputs), outputs, batch_cap=None, parameters=params)


def _describe_engine(a: Artifact) -> ArtifactInfo:
    from fastscnn_edge.core.paths import sidecar_path

    sc = a.sidecar
    if sc is None:
        raise UserError(f"{a.path} has no sidecar {sidecar_path(a.path).name}: its inputs, outputs, classes and the "
                        "TensorRT/GPU it was built for are unknown.",
                        fix="build it with `fastscnn-edge build-engine`, which writes the sidecar beside the engine.")
    meta = a.meta
    params = _meta_parameters(meta)
    params.update({"source_file": a.path.name, "tensorrt_version": sc.tensorrt_version, "gpu_name": sc.gpu_name,
                   "precision": sc.precision or meta.precision, "runtime": sc.runtime})
    if sc.compute_capability is not None:
        params["compute_capability"] = f"{sc.compute_capability[0]}.{sc.compute_capability[1]}"
    if sc.compute_capabilities:
        params["compute_capabilities"] = ",".join(f"{int(c[0])}.{int(c[1])}" for c in sc.compute_capabilities)
    if sc.source_onnx:
        params["source_onnx"] = Path(sc.source_onnx).name
    if sc.source_sha256:
        params["source_sha256"] = sc.source_sha256
    inputs, outputs = _tensors(a.inputs), _tensors(a.outputs)
    cap, note = None, ""
    if inputs and inputs[0].shape and inputs[0].shape[0] == -1:
        cap = _engine_batch_cap(sc.build_options)
        if cap == 1:
            note = ("the engine's optimization profiles take batch 1 only (build-engine builds batch-1 profiles), "
                    "so Triton cannot group requests for it")
    return ArtifactInfo(a.path, "engine", meta, inputs, outputs, batch_cap=cap, parameters=params, batch_note=note)


def _engine_batch_cap(build_options: Dict[str, object]) -> int:
    """The largest batch an engine with a dynamic batch dimension was built for."""
    cap = build_options.get("max_batch")
    if isinstance(cap, int) and cap > 0:
        return cap
    profiles = build_options.get("profiles")
    if isinstance(profiles, list) and profiles:
        try:  # [[min, opt, max], ...] shapes, or plain shapes
            return max(int((p[-1] if isinstance(p[0], list) else p)[0]) for p in profiles)
        except (TypeError, ValueError, IndexError):
            pass
    return 1  # `build-engine` makes every profile at batch 1


# ---------------------------------------------------------------------------------------------
# configs


def model_name(path: Path) -> str:
    """``fastscnn_paper_cls_512x1024.fp16.onnx`` -> ``fastscnn_paper_cls_512x1024_fp16``."""
    stem = path.name[: -len(path.suffix)] if path.suffix else path.name
    name = re.sub(r"[^A-Za-z0-9_-]+", "_", stem).strip("_")
    return name or "model"


def check_model_name(name: str) -> str:
    if not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9_.-]*", name):
        raise UserError(f"model name {name!r} is not a plain folder name.",
                        fix="use letters, digits, '_', '-' and '.', starting with a letter or digit.")
    return name


def _dims(t: Tensor, batched: bool) -> List[int]:
    return list(t.shape[1:]) if batched else list(t.shape)


def _triton_dtype(t: Tensor, path: Path) -> str:
    try:
        return TRITON_DTYPES[t.dtype]
    except KeyError:
        raise UserError(f"{path}: tensor {t.name!r} has dtype {t.dtype}, which Triton has no type for.",
                        fix="re-export with a supported dtype (float32/float16/uint8/int32/int64).") from None


def build_config(infos: Sequence[ArtifactInfo], name: str, *, backend: str = "auto", kind: str = "auto",
                 instances: int = 1, max_batch: int = DEFAULT_MAX_BATCH, dynamic_batching: bool = True,
                 queue_delay_us: int = DEFAULT_QUEUE_DELAY_US, threads: Optional[int] = None) -> ModelConfig:
    """The config of one model whose versions are ``infos`` (in order); UserError where they differ.

    ``max_batch`` (requests per batch) applies where the artifact has a dynamic batch dimension,
    capped by what the artifact takes; a static batch gives ``max_batch_size: 0`` and a note.
    ``threads``: onnxruntime intra-op threads per instance (ONNX models only).
    """
    first = infos[0]
    check("Triton backend", backend)
    if kind not in KINDS:
        raise UserError(f"unknown instance kind {kind!r}.", fix=f"use one of: {', '.join(KINDS)}.")
    if instances < 1:
        raise UserError(f"--instances {instances} is not a count.", fix="pass 1 or more.")
    if max_batch < 1:
        raise UserError(f"--max-batch {max_batch} is not a batch size.", fix="pass 1 or more.")
    for info in infos[1:]:
        for what, a, b in (("kind", info.kind, first.kind),
                           ("inputs", [(t.name, t.dtype, t.shape) for t in info.inputs],
                            [(t.name, t.dtype, t.shape) for t in first.inputs]),
                           ("outputs", [(t.name, t.dtype, t.shape) for t in info.outputs],
                            [(t.name, t.dtype, t.shape) for t in first.outputs]),
                           ("class names", info.meta.class_names, first.meta.class_names),
                           ("batch limit", info.batch_cap, first.batch_cap)):
            if a != b:
                raise UserError(f"{info.path.name} and {first.path.name} differ in their {what} ({a} vs {b}), so they "
                                f"cannot be versions of one model {name!r}.",
                                fix="drop --name to write one model per artifact.")
    if first.kind == "engine":
        if backend in ("python", "openvino"):
            raise UserError(f"{first.path.name} is a TensorRT engine; the {backend} backend form runs ONNX files only.",
                            fix="serve the ONNX it was built from, or deploy this repository on a full Triton "
                                "(which has the TensorRT backend) without --backend python.")
        if kind == "cpu":
            raise UserError("a TensorRT engine runs on a GPU only; --kind cpu does not apply.", fix="drop --kind.")
        platform: Optional[str] = "tensorrt_plan"
        be: Optional[str] = None
        filename: Optional[str] = "model.plan"
        triton_kind = "KIND_GPU"
    elif backend == "openvino":
        if kind == "gpu":
            raise UserError("Triton's OpenVINO backend runs on the CPU; --kind gpu does not apply.",
                            fix="drop --kind, or use the default backend (onnxruntime_onnx) for GPU instances.")
        if first.meta.extra.get("qdq_form") == "cpu":
            raise UserError(f"{first.path.name} is the INT8 CPU form, made for onnxruntime.",
                            fix="serve it without --backend openvino, or make the OpenVINO form: "
                                "fastscnn-edge quantize <the fp32 ONNX> --int8 --form openvino --calib DIR")
        platform, be, filename = None, "openvino", "model.onnx"
        triton_kind = "KIND_CPU"
    else:
        platform, be, filename = ("onnxruntime_onnx", None, "model.onnx") if backend == "auto" else (None, "python", None)
        triton_kind = "KIND_GPU" if kind == "gpu" else "KIND_CPU"

    notes = [f"written by fastscnn-edge from {', '.join(i.path.name for i in infos)}"]
    batched = first.dynamic_batch
    if batched:
        mbs = min(max_batch, first.batch_cap) if first.batch_cap else max_batch
        if first.batch_note:
            notes.append(first.batch_note + ".")
    else:
        mbs = 0
        batch = first.inputs[0].shape[0] if first.inputs and first.inputs[0].shape else "?"
        notes.append(f"static batch: the artifact's batch dimension is fixed at {batch}, so max_batch_size is 0 and "
                     "Triton cannot batch requests; export with --dynamic for dynamic batching.")
    dyn = batched and dynamic_batching and mbs >= 2
    if batched and not dynamic_batching:
        notes.append("dynamic batching is off (--no-dynamic-batching): each request runs as it was sent.")
    head = first.meta.head
    if head == "cls":
        notes.append(f"output {first.outputs[0].name}: class index per pixel (labels.txt names them).")
    params = {PARAM_PREFIX + k: v for k, v in _shared_parameters(infos).items()}
    if threads is not None:
        if first.kind == "engine" or threads < 1:
            raise UserError(f"--threads {threads} applies to ONNX models only, as a count >= 1.", fix="drop --threads.")
        key = {"python": "intra_op_threads", "openvino": "INFERENCE_NUM_THREADS"}.get(be or "", "intra_op_thread_count")
        params[key] = str(int(threads))
    if be == "openvino":
        # one request at a time per instance, latency first (the backend's own "latency mode")
        params.update({"PERFORMANCE_HINT": "LATENCY", "NUM_STREAMS": "1"})
        if head == "cls" and first.meta.extra.get("cls_head_layout") != "refine" and first.dynamic_batch is False \
                and first.meta.resolution is not None:
            notes.append("model.onnx holds the refined cls head (the same labels as the file's dense head): "
                         "OpenVINO compiles the file as it is, and runs the refined head fastest.")
        if batched:
            notes.append("OpenVINO backend: requests smaller than max_batch_size need ENABLE_BATCH_PADDING "
                         "(see the backend's README) where the server's version requires full batches.")
    return ModelConfig(
        name=name, platform=platform, backend=be, max_batch_size=mbs,
        inputs=[(t.name, _triton_dtype(t, first.path), _dims(t, batched)) for t in first.inputs],
        outputs=[(t.name, _triton_dtype(t, first.path), _dims(t, batched)) for t in first.outputs],
        kind=triton_kind, instances=instances, dynamic_batching=dyn, queue_delay_us=queue_delay_us,
        default_model_filename=filename, all_versions=len(infos) > 1, parameters=params, notes=notes,
        label_filename="labels.txt" if first.meta.class_names else None,
    )


def _shared_parameters(infos: Sequence[ArtifactInfo]) -> Dict[str, str]:
    """Parameters equal across versions as they are; the others per version (``version_<n>.<key>``)."""
    if len(infos) == 1:
        return dict(infos[0].parameters)
    keys: List[str] = []
    for info in infos:
        keys += [k for k in info.parameters if k not in keys]
    out: Dict[str, str] = {}
    for k in keys:
        values = [info.parameters.get(k) for info in infos]
        if all(v == values[0] for v in values):
            out[k] = str(values[0])
        else:
            out.update({f"version_{i}.{k}": str(v) for i, v in enumerate(values, 1) if v is not None})
    return out


# ---------------------------------------------------------------------------------------------
# the repository


@dataclass
class RepoModel:
    name: str
    config: ModelConfig
    infos: List[ArtifactInfo]  # one per version, in order

    @property
    def artifacts(self) -> List[Path]:
        return [i.path for i in self.infos]


@dataclass
class RepoResult:
    path: Path
    models: List[RepoModel]
    size_bytes: int
    replaced: bool = False


def plan_models(artifacts: Sequence[str | Path], *, name: Optional[str] = None, backend: str = "auto",
                kind: str = "auto", instances: int = 1, max_batch: int = DEFAULT_MAX_BATCH,
                dynamic_batching: bool = True, queue_delay_us: int = DEFAULT_QUEUE_DELAY_US,
                threads: Optional[int] = None) -> List[RepoModel]:
    """Read every artifact's metadata and make every config; writes nothing."""
    if not artifacts:
        raise UserError("no artifacts given.", fix="pass one or more .onnx / .engine files.")
    infos = [describe_artifact(a) for a in artifacts]
    groups: List[Tuple[str, List[ArtifactInfo]]]
    if name is not None:
        groups = [(check_model_name(name), infos)]
    else:
        groups = []
        for info in infos:
            n = model_name(info.path)
            if any(n == g[0] for g in groups):
                raise UserError(f"two artifacts make the same model name {n!r}.",
                                fix="rename one, or pass --name NAME to make them versions of one model.")
            groups.append((n, [info]))
    opts = dict(backend=backend, kind=kind, instances=instances, max_batch=max_batch,
                dynamic_batching=dynamic_batching, queue_delay_us=queue_delay_us, threads=threads)
    return [RepoModel(n, build_config(g, n, **opts), g) for n, g in groups]  # type: ignore[arg-type]


def _check_target(repo: Path, force: bool) -> bool:
    """True where ``repo`` exists with content (to be replaced); UserError where it must not be touched."""
    if repo.exists() and not repo.is_dir():
        raise UserError(f"{repo} exists and is not a folder.", fix="choose another -o REPO.")
    if not repo.exists() or not any(repo.iterdir()):
        return False
    if not force:
        raise UserError(f"{repo} exists and is not empty.", fix="choose a new folder, or pass --force to replace it.")
    strays = [p.name for p in repo.iterdir() if not (p.is_dir() and (p / "config.pbtxt").is_file())]
    if strays:
        raise UserError(f"{repo} holds more than Triton models ({', '.join(sorted(strays)[:3])}); --force replaces "
                        "only a model repository.", fix="choose another -o REPO, or empty it yourself.")
    return True


def write_repository(artifacts: Sequence[str | Path], repo: str | Path, *, force: bool = False,
                     name: Optional[str] = None, backend: str = "auto", kind: str = "auto", instances: int = 1,
                     max_batch: int = DEFAULT_MAX_BATCH, dynamic_batching: bool = True,
                     queue_delay_us: int = DEFAULT_QUEUE_DELAY_US, threads: Optional[int] = None,
                     validate: bool = True) -> RepoResult:
    """Write a Triton model repository at ``repo`` from ``artifacts`` (see the module doc).

    All or nothing: the repository is assembled in a temporary folder beside ``repo`` and renamed
    into place. An existing non-empty ``repo`` is refused unless ``force`` (and then replaced only
    if it holds nothing but model folders). ``validate`` parses every config with Triton's schema
    where ``tritonclient`` is installed.
    """
    from fastscnn_edge.core.fileio import ensure_writable_dir

    target = Path(repo)
    models = plan_models(artifacts, name=name, backend=backend, kind=kind, instances=instances,
                         max_batch=max_batch, dynamic_batching=dynamic_batching, queue_delay_us=queue_delay_us,
                         threads=threads)
    replace = _check_target(target, force)
    ensure_writable_dir(target)
    if validate and _have_schema():
        for m in models:
            parse_config(m.config.to_pbtxt())  # a bug here must not reach a server
    tmp = Path(tempfile.mkdtemp(prefix=f".{target.name}.", suffix=".part", dir=target.parent))
    try:
        for m in models:
            _write_model(tmp / m.name, m)
        size = sum(p.stat().st_size for p in tmp.rglob("*") if p.is_file())
        tmp.chmod(0o755)
        if replace:
            old = target.with_name(f".{target.name}.old-{tmp.name[-8:]}")
            target.rename(old)
            tmp.rename(target)
            shutil.rmtree(old, ignore_errors=True)
        else:
            if target.exists():
                target.rmdir()  # empty
            tmp.rename(target)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return RepoResult(target, models, size, replaced=replace)


def _have_schema() -> bool:
    import importlib.util

    try:
        return importlib.util.find_spec("tritonclient.grpc.model_config_pb2") is not None
    except (ImportError, ValueError):
        return False


def _write_model(folder: Path, m: RepoModel) -> None:
    from fastscnn_edge.runtime.sidecar import sidecar_path

    folder.mkdir(parents=True)
    (folder / "config.pbtxt").write_text(m.config.to_pbtxt(), encoding="utf-8")
    meta = m.infos[0].meta
    if m.config.label_filename:
        (folder / m.config.label_filename).write_text("\n".join(meta.class_names) + "\n", encoding="utf-8")
    for version, src in enumerate(m.artifacts, 1):
        vdir = folder / str(version)
        vdir.mkdir()
        if m.config.backend == "openvino":
            _write_openvino_onnx(Path(src), vdir / "model.onnx")
        elif m.config.backend == "python":
            shutil.copyfile(src, vdir / "model.onnx")
            from fastscnn_edge.serve.triton_templates import PYTHON_MODEL

            (vdir / "model.py").write_text(PYTHON_MODEL, encoding="utf-8")
        elif m.config.platform == "tensorrt_plan":
            shutil.copyfile(src, vdir / "model.plan")
            shutil.copyfile(sidecar_path(src), vdir / "model.plan.json")
        else:
            shutil.copyfile(src, vdir / "model.onnx")


def _write_openvino_onnx(src: Path, dst: Path) -> None:
    """The ONNX Triton's OpenVINO backend compiles: the file, with a dense cls head in the refined form."""
    a = Artifact.open(src)
    from fastscnn_edge.runtime.ov_runtime import best_graph

    layout = str(a.meta.extra.get("cls_head_layout", "nchw" if a.meta.head == "cls" else ""))
    graph, now = best_graph(a.proto, a.meta.head, layout)
    if graph is a.proto:
        shutil.copyfile(src, dst)
        return
    from fastscnn_edge.core.metadata import meta_from_proto, write_onnx_meta

    meta = a.meta
    meta.extra["cls_head_layout"] = now
    meta.extra["cls_head_rewritten_from"] = layout
    write_onnx_meta(graph, meta)
    meta_from_proto(graph, dst)  # what every reader checks
    dst.write_bytes(graph.SerializeToString())


# The Python-backend model: runs model.onnx with onnxruntime inside Triton's Python stub. Kept to the
# standard library, numpy and onnxruntime (what the serving environment has).
