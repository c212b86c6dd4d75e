"""The capability table: decide how to build an engine, or refuse with the reason, before any work.

Pure Python (no TensorRT, no GPU), so the decision is made and tested everywhere. Inputs: the
TensorRT version, the GPU (compute capability, name, DLA cores), the requested precision, the kind
of ONNX at hand (``fp32`` | ``fp16`` | ``qdq``) and whether calibration data was given. Output: a
:class:`Plan` naming the ONNX kind to parse, strongly typed or not, the builder flags, and warnings.

The three generations (docs/TENSORRT.md):
- 8.5 / 8.6: weakly typed; FP16 via ``BuilderFlag.FP16`` on the fp32 ONNX; INT8 via the Q/DQ ONNX
  plus ``BuilderFlag.INT8``. The only line for Pascal (sm_6x) and JetPack 5 (Xavier).
- 10.x: strongly typed (``NetworkDefinitionCreationFlag.STRONGLY_TYPED``, since 9.1) from the
  precision-explicit ONNX; DLA builds stay weakly typed with flags (10.7 is the last 10.x with DLA).
- 11.x: strongly typed only; no FP16/INT8 builder flags, no calibrators; no DLA in 11.0-11.3.
- TensorRT-RTX ("rtx"): strongly typed only, no DLA; builds ahead of time (no GPU needed) for a
  list of compute capabilities: Ampere and later RTX GPUs by default, Turing (7.5) only when asked
  and not for FP32 (its kernels have no FP32 GEMM, which the exact PPM pooling needs); nothing
  older, and no Jetson or data-centre Hopper parts (those run TensorRT proper).
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Dict, List, Optional, Sequence, Tuple

from fastscnn_edge.core import precision as precisions
from fastscnn_edge.core.errors import UserError
from fastscnn_edge.core.vocab import TRT_RUNTIMES, check

ComputeCapability = Tuple[int, int]
# TensorRT-RTX 1.x ComputeCapability members, and what it builds for when none is set.
RTX_COMPUTE_CAPABILITIES: Tuple[ComputeCapability, ...] = ((7, 5), (8, 0), (8, 6), (8, 9), (12, 0), (12, 1))
RTX_DEFAULT_COMPUTE_CAPABILITIES: Tuple[ComputeCapability, ...] = ((8, 0), (8, 6), (8, 9), (12, 0))
JETSON_COMPUTE_CAPABILITIES: Tuple[ComputeCapability, ...] = ((5, 3), (6, 2), (7, 2), (8, 7))  # Nano, TX2, Xavier, Orin


@dataclass(frozen=True)
class Generation:
    """One TensorRT API generation: how it types a network (the precision table says what it parses)."""

    name: str
    strongly_typed: bool  # builds from the precision-explicit ONNX with STRONGLY_TYPED (else builder flags)
    weak_with_dla: bool  # a DLA build is weakly typed with flags instead
    note: str


GENERATIONS: Dict[str, Generation] = {
    "8": Generation("8", False, False, "8.5/8.6: weakly typed, FP16/INT8 builder flags; Pascal and JetPack 5"),
    "10": Generation("10", True, True, "9.1-10.x: strongly typed; DLA builds (to 10.7) weakly typed with flags"),
    "11": Generation("11", True, False, "11.x: strongly typed only; no FP16/INT8 flags, no calibrators"),
    "rtx": Generation("rtx", True, False, "TensorRT-RTX: strongly typed only, ahead of time, no DLA"),
}
assert tuple(GENERATIONS) == precisions.GENERATIONS


@dataclass(frozen=True)
class TargetProfile:
    """What a named deployment target is known to have."""

    name: str
    gpu_name: Optional[str]
    compute_capability: Optional[ComputeCapability]
    trt_version: Optional[str]  # the TensorRT its platform ships or tops out at
    dla_cores: int
    is_jetson: bool
    note: str = ""
    runtime: Optional[str] = None  # the runtime the target needs; None: whichever is installed


TARGETS: Dict[str, TargetProfile] = {
    "titan-xp": TargetProfile("titan-xp", "NVIDIA TITAN Xp", (6, 1), "8.6", 0, False,
                              "Pascal: TensorRT 8.6 is the newest that runs on sm_61"),
    "jetson-orin": TargetProfile("jetson-orin", "Orin", (8, 7), "10.3", 2, True, "JetPack 6 ships TensorRT 10.3"),
    "jetson-xavier": TargetProfile("jetson-xavier", "Xavier", (7, 2), "8.5", 2, True, "JetPack 5 ships TensorRT 8.5"),
    "desktop": TargetProfile("desktop", None, None, None, 0, False, "a discrete GPU; version and GPU detected"),
    "rtx": TargetProfile("rtx", None, None, None, 0, False,
                         "GeForce/RTX GPUs from Turing on, with TensorRT-RTX (built ahead of time, no GPU needed)",
                         runtime="rtx"),
}
TARGET_NAMES = ("auto",) + tuple(TARGETS)


@dataclass(frozen=True)
class Environment:
    """The TensorRT and GPU a build runs on; ``None`` fields are unknown (TensorRT absent)."""

    trt_version: Optional[str] = None
    compute_capability: Optional[ComputeCapability] = None
    gpu_name: Optional[str] = None
    dla_cores: Optional[int] = None
    is_jetson: bool = False
    runtime: str = "tensorrt"  # "tensorrt" (8.x/10.x/11.x) | "rtx" (TensorRT-RTX)
    # TensorRT-RTX: the compute capabilities to build for (empty: its default list)
    build_for: Tuple[ComputeCapability, ...] = ()

    @classmethod
    def from_target(cls, target: str, runtime: str = "tensorrt") -> "Environment":
        """The environment a named target implies (used before TensorRT is known to be present)."""
        profile = TARGETS.get(target)
        if profile is None:
            return cls(runtime=runtime)
        dla = profile.dla_cores if (profile.is_jetson or profile.compute_capability) else None
        if runtime == "rtx":
            dla = 0
        return cls(profile.trt_version, profile.compute_capability, profile.gpu_name, dla, profile.is_jetson, runtime)


@dataclass
class Plan:
    """How to build: which ONNX to parse, how to create the network, which builder flags to set."""

    generation: Optional[str]  # "8" | "10" | "11" | "rtx" | None (TensorRT version unknown)
    precision: str
    onnx_kind: str  # the ONNX the parser must read: fp32 | fp16 | qdq
    strongly_typed: Optional[bool]  # None: decided once the TensorRT version is known
    flags: List[str] = field(default_factory=list)  # BuilderFlag names: FP16, INT8, GPU_FALLBACK
    dla_core: Optional[int] = None
    warnings: List[str] = field(default_factory=list)
    compute_capabilities: List[ComputeCapability] = field(default_factory=list)  # TensorRT-RTX targets

    def needs_conversion(self, have: str) -> bool:
        return self.onnx_kind != have

    def to_json(self) -> Dict[str, object]:
        return {"generation": self.generation, "precision": self.precision, "onnx_kind": self.onnx_kind,
                "strongly_typed": self.strongly_typed, "flags": list(self.flags), "dla_core": self.dla_core,
                "warnings": list(self.warnings), "compute_capabilities": [list(c) for c in self.compute_capabilities]}


def parse_version(version: str) -> Tuple[int, ...]:
    """``"10.3.0.30"`` -> ``(10, 3, 0, 30)``; non-numeric tails (``"8.6.1.post1"``) are cut."""
    parts: List[int] = []
    for piece in str(version).split("."):
        digits = "".join(ch for ch in piece if ch.isdigit()) if piece[:1].isdigit() else ""
        if not digits:
            break
        parts.append(int(digits))
    if not parts:
        raise UserError(f"cannot read the TensorRT version {version!r}.", fix="check the installed tensorrt package.")
    return tuple(parts)


def generation(version: Optional[str], runtime: str = "tensorrt") -> Optional[str]:
    """The API generation of a TensorRT version: "8" (8.5/8.6), "10" (9.1 to 10.x), "11" (11+); every
    TensorRT-RTX release is generation "rtx" (strongly typed only, like 11.x)."""
    if runtime == "rtx":
        return "rtx"
    if version is None:
        return None
    v = parse_version(version)
    major, minor = v[0], (v[1] if len(v) > 1 else 0)
    if major < 8 or (major == 8 and minor < 5) or (major == 9 and minor < 1):
        raise UserError(f"TensorRT {version} is too old for this toolkit (it needs the named-tensor API of 8.5+).",
                        fix="install TensorRT 8.6 (Pascal GPUs), 10.x or 11.x; on Jetson use JetPack 5 or newer.")
    if major == 8:
        return "8"
    return "10" if major in (9, 10) else "11"


def decide(env: Environment, precision: str, onnx_kind: str, *, dla: Optional[int] = None,
           have_calibration: bool = False) -> Plan:
    """Return the build :class:`Plan` for ``env``, or raise :class:`UserError` naming the reason.

    ``onnx_kind`` is the ONNX the user has; the plan's ``onnx_kind`` is the one to parse (the build
    converts when they differ: fp16 needs a converter, qdq needs calibration data).
    """
    row = precisions.get(precision)
    check("ONNX kind", onnx_kind)
    gen = generation(env.trt_version, env.runtime)
    cc = env.compute_capability
    gpu = env.gpu_name or "this GPU"
    _check_gpu_supported(env, gen)
    build_for = _rtx_build_for(env, precision) if gen == "rtx" else []
    if row.needs_calibration and onnx_kind != row.onnx_kind and not have_calibration:
        raise UserError("INT8 needs a Q/DQ ONNX or calibration images; neither was given.",
                        fix="pass --calib DIR (hundreds of images from the deployment domain), or an ONNX from "
                            "`fastscnn-edge quantize --int8`.")
    if onnx_kind == "qdq" and row.onnx_kind != "qdq":
        raise UserError(f"the ONNX is INT8 Q/DQ, but {precision.upper()} was asked for.",
                        fix="pass --int8 with a Q/DQ model, or the fp32 ONNX for --fp32/--fp16.")
    plan = Plan(gen, precision, row.trt_onnx_kind(gen, onnx_kind), _strongly_typed(gen, dla),
                compute_capabilities=build_for)
    if precision == "fp16" and cc is not None and cc[0] == 6 and cc != (6, 0):
        plan.warnings.append(f"{gpu} (sm_{cc[0]}{cc[1]}) has no fast FP16: an FP16 engine is not faster than "
                             "FP32 there; INT8 (DP4A) is.")
    if not plan.strongly_typed and gen is not None:
        plan.flags.extend(row.weak_flags)
        if cc is None or cc >= (7, 0):
            plan.flags.extend(f for f in row.fast_fp16_flags if f not in plan.flags)
    if dla is not None:
        _plan_dla(plan, env, gen, dla)
    return plan


def _rtx_build_for(env: Environment, precision: str) -> List[ComputeCapability]:
    """The compute capabilities a TensorRT-RTX build targets, or UserError for those it cannot."""
    asked = list(dict.fromkeys(env.build_for)) or list(RTX_DEFAULT_COMPUTE_CAPABILITIES)
    known = ", ".join(f"{a}.{b}" for a, b in RTX_COMPUTE_CAPABILITIES)
    for major, minor in asked:
        if (major, minor) in JETSON_COMPUTE_CAPABILITIES:
            raise UserError(f"TensorRT-RTX cannot build for compute capability {major}.{minor} (Jetson).",
                            fix="build on the Jetson with JetPack's TensorRT (--runtime tensorrt).")
        if (major, minor) < (7, 5):
            raise UserError(f"TensorRT-RTX does not run on compute capability {major}.{minor} (nothing older than "
                            "Turing, 7.5).", fix="build with TensorRT proper for that GPU (8.6 for Pascal: --runtime tensorrt).")
        if (major, minor) not in RTX_COMPUTE_CAPABILITIES:
            what = "this GPU family"
            raise UserError(f"TensorRT-RTX cannot build for compute capability {major}.{minor} ({what}); it builds for "
                            f"{known}.", fix="build with TensorRT proper on that device (--runtime tensorrt).")
        if (major, minor) == (7, 5) and precision == "fp32":
            raise UserError("TensorRT-RTX has no FP32 matrix multiply on Turing (7.5), which the exact PPM pooling "
                            "needs.", fix="build --fp16 for 7.5, or leave 7.5 out of --compute-capability.")
    return asked


def _check_gpu_supported(env: Environment, gen: Optional[str]) -> None:
    cc = env.compute_capability
    if cc is not None and gen in ("10", "11") and cc < (7, 0):
        name = f"{env.gpu_name} " if env.gpu_name else ""
        raise UserError(f"TensorRT {env.trt_version} does not run on {name}sm_{cc[0]}{cc[1]} "
                        "(Pascal and older need TensorRT 8.6; 10.0 fails with 'Unsupported SM').",
                        fix="install TensorRT 8.6 for this GPU (pip install 'tensorrt==8.6.*'), or use --target titan-xp "
                            "on the machine that has it.")


def _strongly_typed(gen: Optional[str], dla: Optional[int]) -> Optional[bool]:
    if gen is None:
        return None
    g = GENERATIONS[gen]
    return False if (dla is not None and g.weak_with_dla) else g.strongly_typed


def _plan_dla(plan: Plan, env: Environment, gen: Optional[str], dla: int) -> None:
    if dla < 0:
        raise UserError(f"--dla {dla} is negative.", fix="pass a DLA core index: 0 or 1 on Jetson AGX Orin/Xavier.")
    if gen == "rtx":
        raise UserError("TensorRT-RTX has no DLA (Deep Learning Accelerator) support.",
                        fix="drop --dla, or build DLA engines with the TensorRT of JetPack (--runtime tensorrt on the Jetson).")
    cores = env.dla_cores
    if cores is not None and cores == 0:
        gpu = env.gpu_name or "this GPU"
        raise UserError(f"{gpu} has no DLA (Deep Learning Accelerator); --dla {dla} cannot be honoured.",
                        fix="drop --dla, or build on a Jetson AGX Orin/Xavier (--target jetson-orin|jetson-xavier).")
    if cores is not None and dla >= cores:
        raise UserError(f"DLA core {dla} does not exist here ({cores} core(s): 0..{cores - 1}).",
                        fix=f"pass --dla 0{' or --dla 1' if cores > 1 else ''}.")
    if plan.precision == "fp32":
        raise UserError("DLA runs FP16 and INT8 only, not FP32.", fix="add --fp16 (or --int8) to the --dla build.")
    if gen == "10" and env.trt_version is not None and parse_version(env.trt_version)[:2] > (10, 7):
        raise UserError(f"TensorRT {env.trt_version} has no DLA support (10.7 was the last 10.x release with DLA).",
                        fix="build DLA engines with the TensorRT of JetPack 6 (10.3), or drop --dla.")
    if gen == "11" and env.trt_version is not None and parse_version(env.trt_version)[:2] < (11, 4):
        raise UserError(f"TensorRT {env.trt_version} has no DLA support (absent in 11.0-11.3).",
                        fix="build DLA engines with the TensorRT of JetPack 6 (10.3), or drop --dla.")
    plan.dla_core = dla
    if gen is not None and gen != "11":
        plan.flags.append("GPU_FALLBACK")  # layers DLA cannot run go to the GPU instead of failing the build


def choose_runtime(choice: str, target: str, installed: Sequence[str]) -> str:
    """The runtime a build uses: ``--runtime auto|tensorrt|rtx`` against ``--target`` and what is installed.

    auto: the target's own runtime where it names one (``rtx``: TensorRT-RTX; Titan Xp and Jetsons:
    TensorRT proper), else TensorRT proper where installed, else TensorRT-RTX where installed, else
    TensorRT proper (the checks run, and the build stops where it needs TensorRT). A target and a
    runtime that cannot go together are refused.
    """
    check("TensorRT runtime", choice)
    check("target", target, TARGET_NAMES)
    profile = TARGETS.get(target)
    needs = profile.runtime if profile is not None else None
    if profile is not None and (profile.is_jetson or profile.compute_capability is not None):
        needs = "tensorrt"  # Pascal and Jetsons: TensorRT-RTX runs on neither
    if choice != "auto" and needs is not None and choice != needs:
        if needs == "rtx":
            raise UserError("--target rtx builds with TensorRT-RTX, not --runtime tensorrt.",
                            fix="drop --runtime, or use --target desktop for TensorRT proper.")
        raise UserError(f"TensorRT-RTX does not run on {target} ({profile.note if profile else ''}).",
                        fix="drop --runtime rtx: that device needs TensorRT proper.")
    if choice != "auto":
        return choice
    if needs is not None:
        return needs
    for name in TRT_RUNTIMES:
        if name in installed:
            return name
    return "tensorrt"


def parse_compute_capabilities(texts: Sequence[str]) -> Tuple[ComputeCapability, ...]:
    """``["8.6,8.9", "12.0"]`` -> ((8, 6), (8, 9), (12, 0)); also accepts ``86``/``sm_86``."""
    out: List[ComputeCapability] = []
    for text in texts:
        for part in str(text).split(","):
            p = part.strip().lower().replace("sm_", "").replace("sm", "")
            if not p:
                continue
            try:
                if "." in p:
                    major, minor = (int(x) for x in p.split(".", 1))
                else:
                    major, minor = int(p[:-1]), int(p[-1])
            except ValueError:
                raise UserError(f"compute capability {part.strip()!r} is not of the form 8.6.",
                                fix="write them like --compute-capability 8.6,8.9 (major.minor).") from None
            out.append((major, minor))
    return tuple(dict.fromkeys(out))


def resolve_target(target: str, detected: Optional[Environment], runtime: str = "tensorrt",
                   build_for: Sequence[ComputeCapability] = ()) -> Environment:
    """Combine a ``--target`` with what was detected; refuse where they contradict each other.

    ``detected`` is None where TensorRT is absent: then the target's profile stands in for the checks
    that can be made without it (``auto`` and ``desktop`` then know nothing and skip them).
    ``build_for`` (TensorRT-RTX only) lists the compute capabilities to build for.
    """
    check("target", target, TARGET_NAMES)
    if build_for and runtime != "rtx":
        raise UserError("--compute-capability is for TensorRT-RTX builds; TensorRT proper builds for the GPU it runs on.",
                        fix="drop --compute-capability, or add --runtime rtx.")
    if detected is None:
        return replace(Environment.from_target(target, runtime), build_for=tuple(build_for))
    detected = replace(detected, runtime=runtime, build_for=tuple(build_for))
    if runtime == "rtx":
        return detected  # ahead of time: the GPU of this machine plays no part
    profile = TARGETS.get(target)
    if profile is None or profile.compute_capability is None:
        return detected
    cc = detected.compute_capability
    if cc is not None and cc != profile.compute_capability:
        want = profile.compute_capability
        raise UserError(f"--target {target} expects a GPU with sm_{want[0]}{want[1]}, but this one is "
                        f"{detected.gpu_name or 'a GPU'} (sm_{cc[0]}{cc[1]}).",
                        fix="drop --target (auto detects), or build on the target device: engines do not move between GPUs.")
    return detected
