"""Fast-SCNN (Poudel et al., 2019), one model class, the public layouts as configuration.

Table 1 of the paper, written as data (input resolution for a 1024x2048 frame on the left):

    stage                      block       t    c    n  s
    1024x2048  (1/1 -> 1/2)    Conv2D      -   32    1  2   learning to downsample
     512x1024  (1/2 -> 1/4)    DSConv      -   48    1  2
     256x512   (1/4 -> 1/8)    DSConv      -   64    1  2
     128x256   (1/8 -> 1/16)   bottleneck  6   64    3  2   global feature extractor
      64x128   (1/16 -> 1/32)  bottleneck  6   96    3  2
      32x64    (1/32)          bottleneck  6  128    3  1
      32x64    (1/32)          PPM         -  128    -  -
      32x64 -> 128x256         FFM         -  128    -  -   feature fusion
     128x256   (1/8)           DSConv      -  128    2  1   classifier
     128x256   (1/8)           Conv2D      -   19    1  1
                               upsample x8 to the input size

The variants differ only in a few switches (:class:`ArchConfig`); see ``VARIANTS`` and
``models/README.md`` for what each switch is and where it was checked.

torch is imported here: this module is not part of the torch-free runtime path.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, replace
from typing import Dict, List, Optional, Sequence, Tuple

import torch
import torch.nn.functional as F
from torch import Tensor, nn

# (t, c, n, s) per bottleneck stage of the global feature extractor: Table 1.
GFE_STAGES: Tuple[Tuple[int, int, int, int], ...] = (
    (6, 64, 3, 2),  # 1/8  -> 1/16
    (6, 96, 3, 2),  # 1/16 -> 1/32
    (6, 128, 3, 1),  # 1/32
)
LDS_CHANNELS = (32, 48, 64)  # Conv2D, DSConv, DSConv, each stride 2
PPM_BINS = (1, 2, 3, 6)
FFM_CHANNELS = 128
CLASSIFIER_CHANNELS = 128


@dataclass(frozen=True)
class ArchConfig:
    """The switches in which the public Fast-SCNN layouts differ from each other."""

    name: str
    conv1_padding: int = 1
    """Padding of the first 3x3 stride-2 conv (Tramac uses 0; mmseg uses 1 since its PR #606, the layout of its checkpoint)."""
    dsconv_dw_relu: bool = False
    """ReLU between depthwise and pointwise conv in every DSConv (the paper omits it; Tramac has it)."""
    ffm_dilation: int = 4
    """Dilation of the FFM depthwise conv (Table 3: the upsampling factor, 4)."""
    ffm_pw_bias: bool = False
    """Bias on the FFM 1x1 convs (Tramac has it, followed by BN)."""
    ppm_project_kernel: int = 1
    """Kernel of the conv after the PPM concat (mmseg: 3)."""
    align_corners: bool = False
    """Bilinear resize mode used in the PPM, the FFM and the final upsample."""
    num_classes: int = 19

    def to_dict(self) -> Dict[str, object]:
        return asdict(self)


VARIANTS: Dict[str, ArchConfig] = {
    "paper": ArchConfig("paper"),
    "tramac": ArchConfig(
        "tramac", conv1_padding=0, dsconv_dw_relu=True, ffm_dilation=1, ffm_pw_bias=True,
        align_corners=True,
    ),
    "mmseg": ArchConfig(
        "mmseg", conv1_padding=1, dsconv_dw_relu=False, ffm_dilation=1, ffm_pw_bias=False,
        ppm_project_kernel=3, align_corners=False,
    ),
}


def get_config(arch: str, num_classes: int = 19) -> ArchConfig:
    from fastscnn_edge.core.errors import UserError

    if arch not in VARIANTS:
        raise UserError(f"unknown architecture {arch!r}.", fix=f"use one of: {', '.join(VARIANTS)}.")
    return replace(VARIANTS[arch], num_classes=num_classes)


# ---------------------------------------------------------------------------------------------
# Building blocks (names follow the paper: conv, dw/pw, bottleneck, PPM, FFM)


class ConvBNReLU(nn.Sequential):
    def __init__(self, cin: int, cout: int, k: int = 3, s: int = 1, p: int = 0, d: int = 1,
                 groups: int = 1, relu: bool = True, bias: bool = False) -> None:
        layers: List[nn.Module] = [
            nn.Conv2d(cin, cout, k, s, p, dilation=d, groups=groups, bias=bias),
            nn.BatchNorm2d(cout),
        ]
        if relu:
            layers.append(nn.ReLU(inplace=True))
        super().__init__(*layers)


class DSConv(nn.Module):
    """Depthwise separable conv: dw 3x3 (stride s) + BN [+ ReLU], pw 1x1 + BN + ReLU."""

    def __init__(self, cin: int, cout: int, stride: int, dw_relu: bool) -> None:
        super().__init__()
        self.conv_dw = ConvBNReLU(cin, cin, 3, stride, 1, groups=cin, relu=dw_relu)
        self.conv_pw = ConvBNReLU(cin, cout, 1)

    def forward(self, x: Tensor) -> Tensor:
        return self.conv_pw(self.conv_dw(x))


class Bottleneck(nn.Module):
    """MobileNet-V2 inverted residual (Table 2): 1x1 expand, 3x3 dw, linear 1x1 project."""

    def __init__(self, cin: int, cout: int, t: int, stride: int) -> None:
        super().__init__()
        hidden = cin * t
        self.has_skip = stride == 1 and cin == cout
        self.conv_pw = ConvBNReLU(cin, hidden, 1)
        self.conv_dw = ConvBNReLU(hidden, hidden, 3, stride, 1, groups=hidden)
        self.conv_pwl = ConvBNReLU(hidden, cout, 1, relu=False)

    def forward(self, x: Tensor) -> Tensor:
        y = self.conv_pwl(self.conv_dw(self.conv_pw(x)))
        return x + y if self.has_skip else y


def adaptive_pool_matrix(n, bins: int, dtype: torch.dtype = torch.float32,
                         device: Optional[torch.device] = None) -> Tensor:
    """The (bins x n) matrix M with ``M @ v == adaptive_avg_pool1d(v, bins)``, exactly.

    PyTorch's adaptive pooling gives bin i the rows [floor(i*n/b), ceil((i+1)*n/b)), which
    overlap when b does not divide n (bins 3 and 6 on a 32x64 map). Written as a matrix, the
    pooling exports to ONNX as two MatMuls per bin at any input size, with no approximation.
    """
    i = torch.arange(bins, device=device)
    start = torch.div(i * n, bins, rounding_mode="trunc")  # all terms >= 0: trunc == floor
    end = torch.div((i + 1) * n + bins - 1, bins, rounding_mode="trunc")
    idx = torch.arange(n, device=device)
    mask = (idx[None, :] >= start[:, None]) & (idx[None, :] < end[:, None])
    m = mask.to(dtype)
    return m / m.sum(dim=1, keepdim=True)


class PyramidPooling(nn.Module):
    """PPM (PSPNet): average-pool to 1x1, 2x2, 3x3, 6x6, 1x1 conv to c/4, upsample, concat."""

    def __init__(self, cin: int, cout: int, bins: Sequence[int], project_kernel: int,
                 align_corners: bool) -> None:
        super().__init__()
        self.bins = tuple(bins)
        self.align_corners = align_corners
        self.exact_matmul_pool = False
        """Pool with :func:`adaptive_pool_matrix` (set for ONNX export; same numbers)."""
        self.stages = nn.ModuleList(ConvBNReLU(cin, cin // 4, 1) for _ in self.bins)
        self.project = ConvBNReLU(cin * 2, cout, project_kernel, p=project_kernel // 2)

    def _pool(self, x: Tensor, b: int) -> Tensor:
        if not self.exact_matmul_pool:
            return F.adaptive_avg_pool2d(x, b)
        # shape values stay symbolic under tracing, so a dynamic-size export computes the
        # matrices in the graph (Range, comparisons); a static one folds them to constants.
        mh = adaptive_pool_matrix(x.shape[-2], b, x.dtype, x.device)
        mw = adaptive_pool_matrix(x.shape[-1], b, x.dtype, x.device)
        return torch.matmul(torch.matmul(mh, x), mw.transpose(0, 1))

    def forward(self, x: Tensor) -> Tensor:
        size = x.shape[-2:]
        feats = [x]
        for b, stage in zip(self.bins, self.stages):
            y = stage(self._pool(x, b))
            feats.append(F.interpolate(y, size=size, mode="bilinear", align_corners=self.align_corners))
        return self.project(torch.cat(feats, dim=1))


class LearningToDownsample(nn.Module):
    def __init__(self, cfg: ArchConfig) -> None:
        super().__init__()
        c1, c2, c3 = LDS_CHANNELS
        self.conv = ConvBNReLU(3, c1, 3, 2, cfg.conv1_padding)  # 1/1 -> 1/2
        self.dsconv1 = DSConv(c1, c2, 2, cfg.dsconv_dw_relu)  # 1/2 -> 1/4
        self.dsconv2 = DSConv(c2, c3, 2, cfg.dsconv_dw_relu)  # 1/4 -> 1/8

    def forward(self, x: Tensor) -> Tensor:
        return self.dsconv2(self.dsconv1(self.conv(x)))


class GlobalFeatureExtractor(nn.Module):
    def __init__(self, cfg: ArchConfig) -> None:
        super().__init__()
        cin = LDS_CHANNELS[-1]
        stages = []
        for t, c, n, s in GFE_STAGES:
            blocks = []
            for i in range(n):
                blocks.append(Bottleneck(cin, c, t, s if i == 0 else 1))
                cin = c
            stages.append(nn.Sequential(*blocks))
        self.bottleneck1, self.bottleneck2, self.bottleneck3 = stages  # 1/16, 1/32, 1/32
        self.ppm = PyramidPooling(cin, FFM_CHANNELS, PPM_BINS, cfg.ppm_project_kernel, cfg.align_corners)

    def forward(self, x: Tensor) -> Tensor:
        return self.ppm(self.bottleneck3(self.bottleneck2(self.bottleneck1(x))))


class FeatureFusion(nn.Module):
    """FFM (Table 3): low-res branch upsampled to the 1/8 map, DWConv (dilation), 1x1 linear;
    high-res branch 1x1 linear; add; ReLU."""

    def __init__(self, cfg: ArchConfig, c_high: int, c_low: int, cout: int) -> None:
        super().__init__()
        d = cfg.ffm_dilation
        self.align_corners = cfg.align_corners
        self.conv_dw = ConvBNReLU(c_low, cout, 3, 1, d, d=d, groups=cout)
        self.conv_lower_res = ConvBNReLU(cout, cout, 1, relu=False, bias=cfg.ffm_pw_bias)
        self.conv_higher_res = ConvBNReLU(c_high, cout, 1, relu=False, bias=cfg.ffm_pw_bias)

    def forward(self, high: Tensor, low: Tensor) -> Tensor:
        low = F.interpolate(low, size=high.shape[-2:], mode="bilinear", align_corners=self.align_corners)
        low = self.conv_lower_res(self.conv_dw(low))
        return F.relu(self.conv_higher_res(high) + low)


class Classifier(nn.Module):
    def __init__(self, cfg: ArchConfig, c: int, dropout: float = 0.1) -> None:
        super().__init__()
        self.dsconv1 = DSConv(c, c, 1, cfg.dsconv_dw_relu)
        self.dsconv2 = DSConv(c, c, 1, cfg.dsconv_dw_relu)
        self.dropout = nn.Dropout(dropout)
        self.conv = nn.Conv2d(c, cfg.num_classes, 1)

    def forward(self, x: Tensor) -> Tensor:
        return self.conv(self.dropout(self.dsconv2(self.dsconv1(x))))


class AuxHead(nn.Module):
    """Training-only head (3x3 conv 32, BN, ReLU, dropout, 1x1 conv): the paper's aux losses."""

    def __init__(self, cin: int, num_classes: int, mid: int = 32) -> None:
        super().__init__()
        self.conv = ConvBNReLU(cin, mid, 3, 1, 1)
        self.dropout = nn.Dropout(0.1)
        self.cls = nn.Conv2d(mid, num_classes, 1)

    def forward(self, x: Tensor) -> Tensor:
        return self.cls(self.dropout(self.conv(x)))


class FastSCNN(nn.Module):
    """Fast-SCNN. ``forward`` returns logits at the input size (N, classes, H, W).

    With ``aux=True`` and in training mode it returns ``(out, aux_lds, aux_gfe)``: the two
    auxiliary logits (after learning to downsample, after the global feature extractor),
    upsampled to the input size, for the paper's 0.4-weighted aux losses.
    """

    def __init__(self, cfg: ArchConfig | None = None, *, aux: bool = False) -> None:
        super().__init__()
        self.cfg = cfg or VARIANTS["paper"]
        self.learning_to_downsample = LearningToDownsample(self.cfg)
        self.global_feature_extractor = GlobalFeatureExtractor(self.cfg)
        self.feature_fusion = FeatureFusion(self.cfg, LDS_CHANNELS[-1], GFE_STAGES[-1][1], FFM_CHANNELS)
        self.classifier = Classifier(self.cfg, CLASSIFIER_CHANNELS)
        self.aux = aux
        if aux:
            self.aux_lds = AuxHead(LDS_CHANNELS[-1], self.cfg.num_classes)
            self.aux_gfe = AuxHead(FFM_CHANNELS, self.cfg.num_classes)

    @property
    def num_classes(self) -> int:
        return self.cfg.num_classes

    def _up(self, x: Tensor, size: Sequence[int]) -> Tensor:
        return F.interpolate(x, size=tuple(size), mode="bilinear", align_corners=self.cfg.align_corners)

    def forward_logits_low(self, x: Tensor) -> Tensor:
        """Logits at 1/8 of the input size, before the final upsample."""
        high = self.learning_to_downsample(x)
        low = self.global_feature_extractor(high)
        return self.classifier(self.feature_fusion(high, low))

    def forward(self, x: Tensor):  # type: ignore[override]
        size = x.shape[-2:]
        high = self.learning_to_downsample(x)
        low = self.global_feature_extractor(high)
        out = self._up(self.classifier(self.feature_fusion(high, low)), size)
        if self.aux and self.training:
            return out, self._up(self.aux_lds(high), size), self._up(self.aux_gfe(low), size)
        return out

    def set_exact_export(self, on: bool = True) -> "FastSCNN":
        """Pool the PPM with exact matrices (ONNX-exportable at any size; same numbers)."""
        self.global_feature_extractor.ppm.exact_matmul_pool = on
        return self


def build_model(arch: str = "paper", num_classes: int = 19, *, aux: bool = False) -> FastSCNN:
    """Build a Fast-SCNN of the named variant with freshly initialised weights."""
    return FastSCNN(get_config(arch, num_classes), aux=aux)


def count_parameters(model: nn.Module, *, include_aux: bool = False) -> Dict[str, int]:
    """Parameter counts: ``all`` (every parameter), ``conv`` (conv weights only, no BN, no bias)."""
    total = conv = 0
    for name, p in model.named_parameters():
        if not include_aux and name.startswith("aux_"):
            continue
        total += p.numel()
        if p.dim() == 4:
            conv += p.numel()
    return {"all": total, "conv": conv}


@dataclass
class LayerRow:
    name: str
    block: str
    out_shape: Tuple[int, ...]
    params: int
    stride_from_input: str = ""
    extra: Dict[str, object] = field(default_factory=dict)


def layer_table(model: FastSCNN, res: Tuple[int, int] = (1024, 2048)) -> List[LayerRow]:
    """Run a forward pass at ``res`` and record each paper-level stage's output shape."""
    stages = [
        ("learning_to_downsample.conv", "Conv2D"),
        ("learning_to_downsample.dsconv1", "DSConv"),
        ("learning_to_downsample.dsconv2", "DSConv"),
        ("global_feature_extractor.bottleneck1", "bottleneck x3"),
        ("global_feature_extractor.bottleneck2", "bottleneck x3"),
        ("global_feature_extractor.bottleneck3", "bottleneck x3"),
        ("global_feature_extractor.ppm", "PPM"),
        ("feature_fusion", "FFM"),
        ("classifier.dsconv1", "DSConv"),
        ("classifier.dsconv2", "DSConv"),
        ("classifier.conv", "Conv2D 1x1"),
    ]
    modules = dict(model.named_modules())
    shapes: Dict[str, Tuple[int, ...]] = {}
    hooks = []
    for name, _ in stages:
        def hook(_m, _i, out, name=name):  # noqa: ANN001
            shapes[name] = tuple(out.shape)
        hooks.append(modules[name].register_forward_hook(hook))
    was_training = model.training
    model.eval()
    try:
        with torch.no_grad():
            out = model(torch.zeros(1, 3, *res))
    finally:
        for h in hooks:
            h.remove()
        model.train(was_training)
    rows = []
    for name, block in stages:
        shape = shapes[name]
        params = sum(p.numel() for p in modules[name].parameters())
        rows.append(LayerRow(name, block, shape, params, f"1/{res[0] // shape[2]}" if shape[2] else ""))
    rows.append(LayerRow("upsample", f"bilinear x{res[0] // shapes['classifier.conv'][2]}", tuple(out.shape), 0, "1/1"))
    return rows
