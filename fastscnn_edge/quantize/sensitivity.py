"""Which layers INT8 hurts, and the fewest to keep float for a drop budget (mixed INT8 + float).

A *layer* is a node an INT8 form quantizes and a user can name: every Conv and Add outside the
parts that always stay float (the in-graph normalization, the head; see ``quantize._float_nodes``).
Its name is the PyTorch module path of the checkpoint (``global_feature_extractor.bottleneck1.0.conv_dw.0``,
``feature_fusion.add``), and its paper module is the first part (learning to downsample, global
feature extractor, feature fusion, classifier).

Keeping a layer float means it computes in float from a float input: it is left out of
quantization, and where an input of it still comes through a QuantizeLinear/DequantizeLinear pair
(the CPU form quantizes a tensor once, at its producer's output, and folds ReLU into that range),
the float value is rebuilt from the producer's float output (:func:`release_float_inputs`). Its
quantized neighbours are untouched.

- :func:`sensitivity`: each layer quantized alone, scored on held-out frames against fp32.
- :func:`fit_budget`: the fewest float layers that keep the drop within a budget: prefixes of the
  sensitivity ranking (doubling, then bisection), then each chosen layer tried back in INT8.

The drop is in mIoU points where the frames have ground truth, else in pixel-agreement points
(100 - agreement %). torch-free: onnx, onnxruntime, numpy.
"""

from __future__ import annotations

import copy
import re
import time
from dataclasses import asdict, dataclass, field
from typing import Callable, Dict, Iterable, List, Optional, Sequence, Set, Tuple

import numpy as np

from fastscnn_edge.core.errors import UserError, ValidationFailed
from fastscnn_edge.core.progress import Progress, report

LAYER_OPS = ("Conv", "Add")
MODULES = {
    "learning_to_downsample": "learning to downsample",
    "global_feature_extractor": "global feature extractor",
    "feature_fusion": "feature fusion",
    "classifier": "classifier",
}
FLOAT_TYPES = ("fp32", "fp16")  # what the float layers of the TensorRT form compute in


@dataclass(frozen=True)
class Layer:
    """One quantizable node: its ONNX name, the module path a user names, and what it is."""

    node: str
    name: str
    module: str
    kind: str  # "Conv 3x3 depthwise 384", "Conv 1x1 64->384", "Add"


@dataclass
class Score:
    """One candidate against fp32 on the held-out frames (fractions; ``drop`` in points)."""

    agreement: float
    miou: Optional[float]
    drop: float


@dataclass
class Judge:
    """The fp32 reference run once; candidates (serialized ONNX) scored against it."""

    inputs: List[np.ndarray]
    labels: List[Optional[np.ndarray]]
    num_classes: int
    head: str
    reference: List[np.ndarray] = field(default_factory=list)
    miou_reference: Optional[float] = None
    source: str = "frames"
    evaluations: int = 0

    @classmethod
    def of(cls, fp32: bytes, inputs: List[np.ndarray], labels: List[Optional[np.ndarray]], num_classes: int,
           head: str, source: str = "frames") -> "Judge":
        if not inputs:
            raise UserError("no held-out frames to measure layers on.",
                            fix="pass --val DIR, or more --calib images (every 10th is held out).")
        j = cls(inputs, list(labels) + [None] * (len(inputs) - len(labels)), num_classes, head, source=source)
        j.reference = j._labels(fp32)
        j.miou_reference = j._miou(j.reference)
        return j

    @property
    def metric(self) -> str:
        return "mIoU points" if self.miou_reference is not None else "agreement points"

    def _labels(self, model: bytes) -> List[np.ndarray]:
        from fastscnn_edge.quantize.quant_eval import cpu_session

        s = cpu_session(model)
        name = s.get_inputs()[0].name
        out = []
        for x in self.inputs:
            y = s.run(None, {name: x})[0]
            out.append(y if self.head == "cls" else y.argmax(1))
        return out

    def _miou(self, preds: List[np.ndarray]) -> Optional[float]:
        from fastscnn_edge.data.metrics import ConfusionMatrix
        from fastscnn_edge.data.preprocess import labels_to_size

        cm = ConfusionMatrix(self.num_classes)
        n = 0
        for p, gt in zip(preds, self.labels):
            if gt is not None:
                cm.update(gt, labels_to_size(p[0], gt.shape[:2]))
                n += 1
        return cm.miou() if n else None

    @property
    def labelled(self) -> int:
        return sum(1 for g in self.labels if g is not None)

    def score(self, model: bytes) -> Score:
        self.evaluations += 1
        preds = self._labels(model)
        same = sum(int(np.sum(a == b)) for a, b in zip(preds, self.reference))
        total = sum(a.size for a in self.reference)
        agreement = same / max(total, 1)
        miou = self._miou(preds)
        if self.miou_reference is not None and miou is not None:
            drop = 100.0 * (self.miou_reference - miou)
        else:
            drop = 100.0 * (1.0 - agreement)
        return Score(agreement, miou, drop)


# --- layers and names -------------------------------------------------------------------------

def module_path(node_name: str) -> str:
    """``/net/global_feature_extractor/bottleneck1/bottleneck1.0/conv_dw/conv_dw.0/Conv`` ->
    ``global_feature_extractor.bottleneck1.0.conv_dw.0``; a non-Conv op gets its op name
    (``.../bottleneck1.1/Add`` -> ``global_feature_extractor.bottleneck1.1.add``)."""
    parts = [p for p in node_name.strip("/").split("/") if p]
    if parts and parts[0] == "net":
        parts = parts[1:]
    if len(parts) < 2:
        return node_name
    *mods, op = parts
    tokens: List[str] = []
    for p in mods:
        if tokens and p.startswith(tokens[-1] + "."):
            tokens[-1] = p
        else:
            tokens.append(p)
    path = ".".join(tokens)
    base = re.sub(r"_\d+$", "", op)
    if base == "Conv":
        return path
    return f"{path}.{op.lower()}"


def _kind(node, inits: Dict[str, np.ndarray]) -> str:  # noqa: ANN001
    if node.op_type != "Conv":
        return node.op_type
    w = inits.get(node.input[1])
    if w is None or w.ndim != 4:
        return "Conv"
    group = next((a.i for a in node.attribute if a.name == "group"), 1)
    cout, cin_g, kh, kw = w.shape
    if group > 1 and cin_g == 1:
        return f"Conv {kh}x{kw} depthwise {cout}"
    return f"Conv {kh}x{kw} {cin_g * group}->{cout}"


def quantizable_layers(proto, always_float: Iterable[str]) -> List[Layer]:  # noqa: ANN001
    """The Conv and Add nodes of ``proto`` (fp32) outside ``always_float``, in graph order."""
    from onnx import numpy_helper

    skip = set(always_float)
    inits = {t.name: numpy_helper.to_array(t) for t in proto.graph.initializer if len(t.dims) == 4}
    out = []
    seen: Dict[str, int] = {}
    for n in proto.graph.node:
        if n.op_type in LAYER_OPS and n.name not in skip:
            name = module_path(n.name)
            if name in seen:  # two nodes of one module (never in our exports): keep both addressable
                seen[name] += 1
                name = f"{name}#{seen[name]}"
            else:
                seen[name] = 0
            top = name.split(".")[0]
            out.append(Layer(n.name, name, MODULES.get(top, top), _kind(n, inits)))
    return out


def resolve(names: Sequence[str], layers: Sequence[Layer]) -> List[Layer]:
    """The layers ``names`` name: a layer's name, its ONNX node name, or a module prefix
    (``global_feature_extractor.ppm`` names every layer under it). Unknown: one line listing them."""
    chosen: List[Layer] = []
    for raw in names:
        want = raw.strip()
        hits = [lay for lay in layers if want in (lay.name, lay.node) or lay.name.startswith(want + ".")]
        if not want or not hits:
            shown = ", ".join(lay.name for lay in layers[:6])
            raise UserError(f"--exclude {raw!r} is not a quantizable layer of this model.",
                            fix=f"name one of its {len(layers)} layers or a module prefix ({shown}, ...; "
                                "`quantize --int8 --sensitivity` lists them all).")
        chosen += [h for h in hits if h not in chosen]
    return chosen


# --- building a mixed graph --------------------------------------------------------------------

def release_float_inputs(quantized, fp32, float_nodes: Set[str]) -> int:  # noqa: ANN001 - edited in place
    """Give every node of ``float_nodes`` in ``quantized`` the float values of its fp32 inputs.

    An input that reaches it through a DequantizeLinear of an activation is replaced by that
    tensor's float value: the tensor itself where its producer is still in the graph (a Conv's float
    output, a graph input), else rebuilt from the fp32 graph's producer chain (a ReLU the quantizer
    folded into a range is put back). Dangling Q/DQ nodes are removed. Returns how many inputs
    were rewired.
    """
    g = quantized.graph
    inits = {t.name for t in g.initializer}
    fp32_producer = {o: n for n in fp32.graph.node for o in n.output}
    fp32_inits = {t.name: t for t in fp32.graph.initializer}
    graph_inputs = {i.name for i in g.input}
    by_name = {n.name: n for n in g.node if n.name}
    q_producer = {o: n for n in g.node for o in n.output}
    float_nodes_by_name = {n.name: n for n in fp32.graph.node if n.name in float_nodes}
    added: List[object] = []
    made: Dict[str, str] = {}

    def float_value(name: str) -> str:
        """A tensor of ``quantized`` that holds fp32 tensor ``name``'s float value."""
        if name in graph_inputs or name in inits:
            return name
        if name in made:
            return made[name]
        p = fp32_producer.get(name)
        if p is None:
            if name in fp32_inits:  # an fp32 constant the quantizer replaced: copy it back
                t = copy.deepcopy(fp32_inits[name])
                if name in q_producer:  # a DequantizeLinear writes that name (a quantized bias): another one
                    t.name = f"{name}_float"
                if t.name not in inits:
                    g.initializer.append(t)
                    inits.add(t.name)
                return t.name
            raise ValueError(f"cannot rebuild the float value of {name}")
        q = by_name.get(p.name)
        through_dq = q is not None and q.op_type not in LAYER_OPS and any(
            q_producer.get(i) is not None and q_producer[i].op_type == "DequantizeLinear" for i in q.input)
        if q is not None and q.op_type == p.op_type and len(q.output) == len(p.output) and not through_dq:
            # the same node (its output may have been renamed: a Conv whose ReLU the quantizer folded
            # into the next range writes the ReLU's name, with the Conv's values)
            return q.output[list(p.output).index(name)]
        # gone from the quantized graph (a folded ReLU), or an op that is no layer (ReLU, Resize, Concat)
        # reading quantized inputs: a float copy of it, on float inputs
        node = copy.deepcopy(p)
        node.name = f"{p.name}_float"
        new_inputs = [float_value(i) if i else i for i in p.input]
        del node.input[:]
        node.input.extend(new_inputs)
        outs = [f"{o}_float" for o in p.output]
        del node.output[:]
        node.output.extend(outs)
        added.append(node)
        for o, new_name in zip(p.output, outs):
            made[o] = new_name
        return made[name]

    producer = {o: n for n in g.node for o in n.output}
    rewired = 0
    for node in g.node:
        if node.name not in float_nodes:
            continue
        ref = float_nodes_by_name.get(node.name)
        if ref is None:
            continue
        for i, name in enumerate(node.input):
            p = producer.get(name)
            if p is not None and p.op_type == "DequantizeLinear" and i < len(ref.input):
                node.input[i] = float_value(ref.input[i])
                rewired += 1
    g.node.extend(added)
    _drop_dangling(quantized)
    from fastscnn_edge.quantize.qdq import _topological_sort

    _topological_sort(quantized)
    return rewired


def _drop_dangling(proto) -> None:  # noqa: ANN001
    """Remove Q/DQ (and rebuilt) nodes whose outputs nobody reads, then unused initializers."""
    g = proto.graph
    outputs = {o.name for o in g.output}
    while True:
        used = {i for n in g.node for i in n.input} | outputs
        dead = [n for n in g.node if n.op_type in ("QuantizeLinear", "DequantizeLinear") and not any(o in used for o in n.output)]
        if not dead:
            break
        for n in dead:
            g.node.remove(n)
    used = {i for n in g.node for i in n.input}
    keep = [t for t in g.initializer if t.name in used]
    if len(keep) != len(g.initializer):
        del g.initializer[:]
        g.initializer.extend(keep)


# --- the search --------------------------------------------------------------------------------

Build = Callable[[Set[str], Optional[str]], bytes]  # (float node names, the only quantized node) -> ONNX bytes


@dataclass
class Sensitivity:
    layer: Layer
    score: Score


@dataclass
class Plan:
    """What the search found and measured; ``float_layers`` stay float in the written file."""

    metric: str
    reference_miou: Optional[float]
    frames: int
    labelled: int
    source: str
    plain: Score
    forced: List[Layer]
    sensitivity: List[Sensitivity] = field(default_factory=list)
    float_layers: List[Layer] = field(default_factory=list)
    final: Optional[Score] = None
    max_drop: Optional[float] = None
    evaluations: int = 0
    seconds: float = 0.0
    sizes: Dict[str, int] = field(default_factory=dict)  # bytes: plain, mixed
    speed_ms: Dict[str, float] = field(default_factory=dict)  # onnxruntime CPU medians: fp32, plain, mixed
    all_layers: int = 0

    def ranked(self) -> List[Sensitivity]:
        """Most sensitive first, by pixel agreement with fp32: on a few labelled images the mIoU of one
        layer's change is noise-sized (it can even rise while 4 % of the pixels change), agreement is not."""
        return sorted(self.sensitivity, key=lambda s: (s.score.agreement, -s.score.drop, s.layer.name))

    def to_json(self) -> Dict[str, object]:
        def lay(x: Layer) -> Dict[str, str]:
            return asdict(x)

        return {
            "metric": self.metric, "reference_miou": self.reference_miou, "frames": self.frames,
            "labelled": self.labelled, "measured_on": self.source, "layers": self.all_layers,
            "plain_int8": asdict(self.plain), "excluded_by_hand": [lay(x) for x in self.forced],
            "sensitivity": [{"rank": i + 1, **lay(s.layer), **asdict(s.score)} for i, s in enumerate(self.ranked())],
            "max_drop": self.max_drop, "float_layers": [lay(x) for x in self.float_layers],
            "result": asdict(self.final) if self.final else None, "evaluations": self.evaluations,
            "seconds": self.seconds, "size_bytes": self.sizes, "cpu_speed_ms": self.speed_ms,
        }


def sensitivity(build: Build, judge: Judge, layers: Sequence[Layer], forced: Set[str],
                progress: Optional[Progress] = None) -> List[Sensitivity]:
    """Each layer quantized alone (everything else float), scored against fp32."""
    todo = [lay for lay in layers if lay.node not in forced]
    out = []
    for i, lay in enumerate(todo):
        report(progress, "sensitivity: one layer at a time", i, len(todo))
        out.append(Sensitivity(lay, judge.score(build(set(), lay.node))))
    report(progress, "sensitivity: one layer at a time", len(todo), len(todo))
    return out


def fit_budget(build: Build, judge: Judge, layers: Sequence[Layer], forced: Set[str], ranked: Sequence[Sensitivity],
               max_drop: float, plain: Score, progress: Optional[Progress] = None) -> Tuple[List[Layer], Score]:
    """The fewest float layers (besides ``forced``) that keep the drop within ``max_drop``.

    Prefixes of the ranking are tried at 1, 2, 4, ... layers until one fits, then bisected; then each
    chosen layer, least sensitive first, is tried back in INT8. Raises ValidationFailed (exit 4) when
    only keeping every layer float fits.
    """
    if plain.drop <= max_drop:
        return [], plain
    order = [s.layer for s in ranked]
    n = len(order)
    cache: Dict[Tuple[str, ...], Score] = {}

    def score(chosen: Sequence[Layer]) -> Score:
        key = tuple(sorted(x.node for x in chosen))
        if key not in cache:
            report(progress, f"budget: {len(chosen)} float layer(s)", judge.evaluations, None)
            cache[key] = judge.score(build(forced | set(key), None))
        return cache[key]

    everything = score(order)
    if everything.drop > max_drop:
        raise ValidationFailed(
            f"--max-drop {max_drop:g} {judge.metric} cannot be met: with all {n + len(forced)} layers float the "
            f"drop is still {everything.drop:.2f} (the ops that stay quantized cost it); nothing was written.",
            fix="raise --max-drop, or use FP16 (`quantize --fp16`) or the fp32 file.")
    # a layer that alone (everything else float) already costs more than the budget stays float in any
    # answer (errors of quantized layers add up far more often than they cancel): the search starts there
    must = sum(1 for s in ranked if s.score.drop > max_drop)
    order = [s.layer for s in ranked if s.score.drop > max_drop] + [s.layer for s in ranked if not s.score.drop > max_drop]
    if must == n:
        raise ValidationFailed(
            f"--max-drop {max_drop:g} {judge.metric} cannot be met with any layer in INT8: each of the {n} layers "
            f"alone costs more (the least {min(s.score.drop for s in ranked):.2f}); nothing was written.",
            fix="raise --max-drop, or use FP16 (`quantize --fp16`) or the fp32 file.")
    lo, hi = 0, max(1, must)  # lo: a prefix that does not fit (0: plain); hi: the candidate
    while hi < n and score(order[:hi]).drop > max_drop:
        lo, hi = hi, min(2 * hi, n)
    while hi - lo > 1:
        mid = (lo + hi) // 2
        if score(order[:mid]).drop <= max_drop:
            hi = mid
        else:
            lo = mid
    def prune(chosen: List[Layer], candidates: List[Layer]) -> List[Layer]:
        """Put ``candidates`` back in INT8 where the budget still holds: all at once, else by halves."""
        if not candidates:
            return chosen
        trial = [x for x in chosen if x not in candidates]
        if trial and score(trial).drop <= max_drop:
            return trial
        if len(candidates) == 1:
            return chosen
        half = len(candidates) // 2
        return prune(prune(chosen, candidates[:half]), candidates[half:])

    # a layer harmless alone can matter beside the others (the ranking is measured one at a time), so
    # the prefix that fits may carry many layers that do not: try them back, least sensitive first
    chosen = prune(list(order[:hi]), list(reversed(order[:hi])))
    if len(chosen) == n:
        raise ValidationFailed(
            f"--max-drop {max_drop:g} {judge.metric} cannot be met with any layer in INT8: only every layer float "
            f"({n}) stays within it, which is the fp32 model; nothing was written.",
            fix="raise --max-drop, or use FP16 (`quantize --fp16`) or the fp32 file.")
    return chosen, score(chosen)


def kept_share(speed_ms: Dict[str, float]) -> float:
    """The share of plain INT8's speed-up over fp32 that the mixed file keeps (time saved / time saved)."""
    return (speed_ms["fp32"] - speed_ms["mixed"]) / (speed_ms["fp32"] - speed_ms["plain"])


def cpu_speed(models: Dict[str, bytes], inputs: List[np.ndarray], runs: int = 15, warmup: int = 3) -> Dict[str, float]:
    """Median ms per frame of each model on onnxruntime's CPU, round-robin in this process."""
    from fastscnn_edge.quantize.quant_eval import cpu_session

    sessions = {k: cpu_session(v) for k, v in models.items()}
    names = {k: s.get_inputs()[0].name for k, s in sessions.items()}
    times: Dict[str, List[float]] = {k: [] for k in models}
    x = inputs[0]
    for i in range(warmup + runs):
        for k, s in sessions.items():
            t0 = time.perf_counter()
            s.run(None, {names[k]: x})
            if i >= warmup:
                times[k].append((time.perf_counter() - t0) * 1e3)
    return {k: float(np.median(v)) for k, v in times.items()}


# --- calibration outliers --------------------------------------------------------------------

OUTLIER_RATIO = 10.0  # max over the 99.99th percentile, or the widest channel over the median channel


@dataclass
class Outlier:
    """A calibrated tensor whose range one outlier sets; ``layers``: the layers that read it."""

    tensor: str
    layers: List[str]
    max_abs: float
    p9999: float
    channel_ratio: float  # the widest channel's max over the median channel's

    @property
    def kind(self) -> str:
        return "one wide channel" if self.channel_ratio > OUTLIER_RATIO else "sparse outliers"

    def advice(self) -> str:
        if self.kind == "one wide channel":
            return ("a per-tensor scale shares this range with every channel: keep the layer float "
                    "(--max-drop or --exclude); --calib-method percentile would clip the wide channel")
        return "--calib-method percentile (--calib-percentile 99.99) clips these few values"


def calibration_outliers(fp32, frames: Sequence[np.ndarray], layers: Sequence[Layer]) -> List[Outlier]:  # noqa: ANN001
    """The tensors read by ``layers`` whose range an outlier sets, over ``frames`` (network inputs):
    max |x| over the 99.99th percentile of |x| above :data:`OUTLIER_RATIO`, or the widest channel's
    max |x| over the median channel's above it. Worst first."""
    import onnx

    from fastscnn_edge.quantize.quant_eval import cpu_session

    by_node = {lay.node: lay.name for lay in layers}
    inits = {t.name for t in fp32.graph.initializer}
    readers: Dict[str, List[str]] = {}
    for n in fp32.graph.node:
        if n.name in by_node:
            for i in n.input:
                if i and i not in inits:
                    readers.setdefault(i, []).append(by_node[n.name])
    if not readers or not frames:
        return []
    model = copy.deepcopy(fp32)
    have = {o.name for o in model.graph.output}
    for name in readers:
        if name not in have:
            model.graph.output.append(onnx.helper.make_empty_tensor_value_info(name))
    session = cpu_session(model.SerializeToString())
    feed = session.get_inputs()[0].name
    names = [o.name for o in session.get_outputs()]
    peaks: Dict[str, np.ndarray] = {}
    pcts: Dict[str, List[float]] = {}
    for x in frames:
        for name, y in zip(names, session.run(None, {feed: x})):
            if name not in readers or y.ndim != 4:
                continue
            a = np.abs(y.astype(np.float32))
            ch = a.max(axis=(0, 2, 3))
            peaks[name] = np.maximum(peaks[name], ch) if name in peaks else ch
            flat = a.reshape(-1)
            k = max(1, int(flat.size * 1e-4))
            pcts.setdefault(name, []).append(float(np.partition(flat, flat.size - k)[flat.size - k]))
    out = []
    for name, ch in peaks.items():
        top = float(ch.max())
        p = float(np.median(pcts[name]))
        med = float(np.median(ch))
        ratio_p = top / p if p > 0 else (float("inf") if top > 0 else 0.0)
        ratio_c = top / med if med > 0 else (float("inf") if top > 0 else 0.0)
        if ratio_p > OUTLIER_RATIO or ratio_c > OUTLIER_RATIO:
            out.append(Outlier(name, readers[name], top, p, ratio_c))
    return sorted(out, key=lambda o: -max(o.channel_ratio, o.max_abs / o.p9999 if o.p9999 > 0 else float("inf")))


# --- reports -----------------------------------------------------------------------------------

def _pct(v: Optional[float]) -> str:
    return "-" if v is None else f"{100 * v:.2f}"


def table(plan: Plan, top: Optional[int] = None) -> List[str]:
    """The ranked sensitivity table (markdown-style lines)."""
    rows = plan.ranked()
    lines = [f"sensitivity: each layer quantized alone, on {plan.frames} {plan.source} "
             f"({plan.labelled} labelled); drop in {plan.metric}; fp32 mIoU {_pct(plan.reference_miou)} %",
             "(ranked by pixel agreement; the budget reads the drop)",
             "| rank | layer | module | op | drop | agreement % | mIoU % |", "|---|---|---|---|---|---|---|"]
    for i, s in enumerate(rows[:top] if top else rows):
        lines.append(f"| {i + 1} | {s.layer.name} | {s.layer.module} | {s.layer.kind} | {s.score.drop:.2f} | "
                     f"{_pct(s.score.agreement)} | {_pct(s.score.miou)} |")
    if top and len(rows) > top:
        lines.append(f"({len(rows) - top} more: --sensitivity lists them, --json writes them)")
    return lines


def summary(plan: Plan) -> List[str]:
    """What the budget (or --exclude) did, in a few lines."""
    out = [f"plain INT8: drop {plan.plain.drop:.2f} {plan.metric} (agreement {_pct(plan.plain.agreement)} %"
           + (f", mIoU {_pct(plan.plain.miou)} % vs fp32 {_pct(plan.reference_miou)} %" if plan.plain.miou is not None else "")
           + ")"]
    kept = plan.forced + plan.float_layers
    if plan.final is not None and (kept or plan.max_drop is not None):
        why = f" for --max-drop {plan.max_drop:g}" if plan.max_drop is not None else ""
        names = ", ".join(x.name for x in kept) if kept else "none"
        out.append(f"float layers ({len(kept)} of {plan.all_layers}){why}: {names}")
        out.append(f"mixed INT8: drop {plan.final.drop:.2f} {plan.metric} (agreement {_pct(plan.final.agreement)} %"
                   + (f", mIoU {_pct(plan.final.miou)} %" if plan.final.miou is not None else "") + ")")
    if plan.speed_ms:
        s = plan.speed_ms
        share = (f"{100 * kept_share(s):.0f} % of INT8's speed-up kept" if s["fp32"] > s["plain"]
                 else "plain INT8 is not faster than fp32 here")
        out.append(f"cost on onnxruntime CPU: fp32 {s['fp32']:.1f} ms, plain INT8 {s['plain']:.1f} ms, mixed "
                   f"{s['mixed']:.1f} ms ({share}); size {plan.sizes['plain'] / 1e6:.2f} MB plain, "
                   f"{plan.sizes['mixed'] / 1e6:.2f} MB mixed")
    elif plan.sizes:
        out.append(f"size {plan.sizes['plain'] / 1e6:.2f} MB plain, {plan.sizes['mixed'] / 1e6:.2f} MB mixed; speed: "
                   "TensorRT's, measured by `build-engine` + `bench` on the GPU (onnxruntime's CPU kernels do not run "
                   "this form's int8 fast, so a CPU time would mislead)")
    return out
