"""The metadata every artifact carries (ONNX ``metadata_props``; engine sidecar JSON).

torch-free: needs only ``onnx`` (and only when reading/writing ONNX files).
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Dict, List, Optional, Tuple

from fastscnn_edge.core.errors import UserError
from fastscnn_edge.core.schema import Field, check_version_number, float_triple, names_list, show, validate
from fastscnn_edge.core.vocab import HEADS, PRECISIONS

PREFIX = "fastscnn_edge."

CITYSCAPES_CLASSES: Tuple[str, ...] = (
    "road", "sidewalk", "building", "wall", "fence", "pole", "traffic light", "traffic sign",
    "vegetation", "terrain", "sky", "person", "rider", "car", "truck", "bus", "train",
    "motorcycle", "bicycle",
)
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)

RANDOM_WEIGHTS = "random-init"  # ModelMeta.weights_sha256 of a model exported without --weights
RANDOM_WEIGHTS_NOTE = ("note: randomly initialised weights: the labels mean nothing (speed and export checks do); "
                       "trained weights: models/demo/fastscnn_synth.pt (synthetic-scene demo) or `fastscnn-edge weights list`")

INPUT_FORMATS = ("float", "rgb8", "bgr8")
LABEL_DTYPES = ("uint8", "int32", "int64")
ARCHES = ("paper", "tramac", "mmseg")  # = model.VARIANTS, kept here torch-free (a test keeps them equal)
CHANNEL_ORDERS = ("RGB", "BGR")
MAX_CLASSES = 1000  # a sane bound for a segmentation head; Cityscapes has 19, ADE20K 150
UINT8_MAX_CLASSES = 255  # uint8 labels hold 0..255, and 255 is the ignore label of every dataset here
SCHEMA_VERSION = 1  # of the metadata_props layout; written as fastscnn_edge.schema
FIX_META = "re-export the model with `fastscnn-edge export` (and quantize it again); do not edit its metadata by hand."


def check_labels_fit(num_classes: int, labels: str) -> None:
    """uint8 labels hold at most 255 classes (255 is the ignore label); UserError naming the fix."""
    if labels == "uint8" and num_classes > UINT8_MAX_CLASSES:
        raise UserError(f"the model has {num_classes} classes; uint8 labels hold at most {UINT8_MAX_CLASSES} "
                        f"(label {num_classes - 1} would wrap to {(num_classes - 1) % 256}).",
                        fix="export with --labels int32 (or int64).")


def _check_resolution(value: List[int]) -> Optional[str]:
    from fastscnn_edge.core.resolution import resolution_problem

    return resolution_problem(int(value[0]), int(value[1]))


def meta_schema() -> Dict[str, Field]:
    """ModelMeta as stored (JSON values): what each field must be. Required: what decides how to
    feed the model and read its output; the rest has defaults."""
    from fastscnn_edge.core.resolution import MAX_SIDE

    return {
        "arch": Field(str, choices=ARCHES),
        "head": Field(str, choices=HEADS),
        "input_format": Field(str, choices=INPUT_FORMATS),
        "resolution": Field(list, length=2, items=Field(int, lo=32, hi=MAX_SIDE), nullable=True,
                            check=_check_resolution, expect=f"null (dynamic) or [height, width], multiples of 32 up to {MAX_SIDE}"),
        "num_classes": Field(int, lo=1, hi=MAX_CLASSES),
        "class_names": Field(list, default=list, items=names_list().items),
        "mean": float_triple(0.0, 1.0, what="RGB, on the 0..1 scale"),
        "std": float_triple(0.0, 1.0, what="RGB, on the 0..1 scale", above_lo=True),
        "channel_order": Field(str, choices=CHANNEL_ORDERS),
        "labels_dtype": Field(str, default="", choices=("",) + LABEL_DTYPES),
        "precision": Field(str, choices=PRECISIONS),
        "weights_sha256": Field(str, default=""),
        "weights_source": Field(str, default=""),
        "toolkit_version": Field(str, default=""),
        "extra": Field(dict, default=dict, keys=Field(str), values=Field(str)),
    }


_JSON_FIELDS = ("resolution", "num_classes", "class_names", "mean", "std")


@dataclass
class ModelMeta:
    """What a consumer needs to feed an artifact and read its output."""

    arch: str = "paper"
    head: str = "cls"
    input_format: str = "float"
    resolution: Optional[Tuple[int, int]] = None  # None: dynamic H, W
    num_classes: int = 19
    class_names: List[str] = field(default_factory=lambda: list(CITYSCAPES_CLASSES))
    mean: Tuple[float, float, float] = IMAGENET_MEAN  # RGB order, on the 0..1 scale
    std: Tuple[float, float, float] = IMAGENET_STD
    channel_order: str = "RGB"  # of the float input tensor
    labels_dtype: str = "uint8"
    precision: str = "fp32"
    weights_sha256: str = ""
    weights_source: str = ""
    toolkit_version: str = ""
    extra: Dict[str, str] = field(default_factory=dict)

    def to_props(self) -> Dict[str, str]:
        d = asdict(self)
        extra = d.pop("extra")
        out = {PREFIX + k: json.dumps(v) if not isinstance(v, str) else v for k, v in d.items()}
        out[PREFIX + "schema"] = str(SCHEMA_VERSION)
        out.update({PREFIX + "extra." + k: v for k, v in extra.items()})
        return out

    @classmethod
    def from_props(cls, props: Dict[str, str], source: str = "the ONNX metadata") -> "ModelMeta":
        """Parse and check ``metadata_props`` (UserError naming ``source``, the field and what was expected)."""
        values: Dict[str, object] = {}
        extra: Dict[str, str] = {}
        version = props.get(PREFIX + "schema", "1")  # "1": files from before the key was written
        try:
            number: object = int(version)
        except ValueError:
            number = version
        check_version_number(number, current=SCHEMA_VERSION, source=source, name="metadata schema", fix=FIX_META)
        schema = meta_schema()
        for key, raw in props.items():
            if not key.startswith(PREFIX) or key == PREFIX + "schema":
                continue
            name = key[len(PREFIX):]
            if name.startswith("extra."):
                extra[name[len("extra."):]] = raw
            elif name in _JSON_FIELDS:
                try:
                    values[name] = json.loads(raw)
                except ValueError:
                    raise UserError(f"{source}: metadata field '{name}' is {show(raw)}, not JSON; expected "
                                    f"{schema[name].describe()}.", fix=FIX_META) from None
            elif name in schema:
                values[name] = raw
        values["extra"] = extra
        return cls.from_json(values, source)

    @classmethod
    def from_json(cls, data: object, source: str = "the model metadata", *, fix: str = FIX_META,
                  what: str = "metadata") -> "ModelMeta":
        """A checked ModelMeta from its JSON form (``to_json``; the engine sidecar's ``meta``).
        ``fix`` and ``what`` word the error for the file that holds it."""
        d = validate(data, meta_schema(), source=source, fix=fix, what=what)
        n = d["num_classes"]
        names = d["class_names"] or (list(CITYSCAPES_CLASSES) if n == len(CITYSCAPES_CLASSES)
                                     else [f"class_{i}" for i in range(n)])
        if len(names) != n:
            raise UserError(f"{source}: {what} field 'class_names' has {len(names)} names for num_classes {n}.",
                            fix=fix)
        if d["head"] == "cls":
            if not d["labels_dtype"]:
                raise UserError(f"{source}: {what} field 'labels_dtype' is empty for the cls head; expected one of "
                                f"{', '.join(LABEL_DTYPES)}.", fix=fix)
            if d["labels_dtype"] == "uint8" and n > UINT8_MAX_CLASSES:
                raise UserError(f"{source}: {what} says uint8 labels for {n} classes; uint8 labels hold at most "
                                f"{UINT8_MAX_CLASSES} classes.", fix=fix)
        res = d["resolution"]
        return cls(arch=d["arch"], head=d["head"], input_format=d["input_format"],
                   resolution=None if res is None else (res[0], res[1]), num_classes=n, class_names=list(names),
                   mean=tuple(d["mean"]), std=tuple(d["std"]), channel_order=d["channel_order"],  # type: ignore[arg-type]
                   labels_dtype=d["labels_dtype"], precision=d["precision"], weights_sha256=d["weights_sha256"],
                   weights_source=d["weights_source"], toolkit_version=d["toolkit_version"], extra=dict(d["extra"]))

    def to_json(self) -> Dict[str, object]:
        return asdict(self)

    @property
    def random_weights(self) -> bool:
        """Exported (or run) without trained weights."""
        return self.weights_sha256 == RANDOM_WEIGHTS


def read_onnx_meta(path: str | Path) -> ModelMeta:
    """Read the toolkit metadata of an ONNX file (without loading its weights)."""
    import onnx

    try:
        model = onnx.load(str(path), load_external_data=False)
    except Exception as exc:  # noqa: BLE001 - onnx raises several types for a bad file
        raise UserError(f"{path} is not a readable ONNX file ({type(exc).__name__}).",
                        fix="pass a file written by `fastscnn-edge export`.") from None
    return meta_from_proto(model, path)


def meta_from_proto(model, path: str | Path) -> ModelMeta:  # noqa: ANN001 - onnx.ModelProto
    """The toolkit metadata of an ONNX model already in memory (``path`` names it in errors), checked
    field by field and against the graph's own inputs and outputs (a foreign graph wearing copied
    metadata is refused)."""
    props = {p.key: p.value for p in model.metadata_props}
    if not any(k.startswith(PREFIX) for k in props):
        raise UserError(f"{path} carries no fastscnn-edge metadata.",
                        fix="export it with `fastscnn-edge export` (foreign ONNX files are not supported).")
    meta = ModelMeta.from_props(props, str(path))
    from fastscnn_edge.core.conformance import check_io, onnx_io

    inputs, outputs = onnx_io(model)
    check_io(inputs, outputs, meta, source=str(path))
    return meta


def write_onnx_meta(model, meta: ModelMeta) -> None:  # noqa: ANN001 - onnx.ModelProto
    """Replace the toolkit's metadata_props entries of an in-memory ONNX model."""
    keep = [p for p in model.metadata_props if not p.key.startswith(PREFIX)]
    del model.metadata_props[:]
    for p in keep:
        model.metadata_props.append(p)
    for k, v in meta.to_props().items():
        entry = model.metadata_props.add()
        entry.key, entry.value = k, v
