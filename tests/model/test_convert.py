"""Importing the public checkpoints: the converted model computes what the public network computes.

The reference networks below rebuild the two public layouts module by module, with the public
attribute names (so their state_dict keys are the public keys): Tramac/Fast-SCNN-pytorch
``models/fast_scnn.py`` and mmsegmentation ``FastSCNN`` (layout since PR #606, June 2021) backbone +
``DepthwiseSeparableFCNHead`` + two ``FCNHead`` aux heads (``configs/_base_/models/fast_scnn.py``).
"""

from __future__ import annotations

from dataclasses import replace
from typing import List

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from fastscnn_edge.core.errors import UserError
from fastscnn_edge.model.checkpoint import load, resolve_model, save
from fastscnn_edge.model.convert import import_checkpoint

RES = (128, 256)


# --------------------------------------------------------------------------- Tramac layout
class TConvBNReLU(nn.Module):
    def __init__(self, cin: int, cout: int, k: int = 3, s: int = 1, p: int = 0) -> None:
        super().__init__()
        self.conv = nn.Sequential(nn.Conv2d(cin, cout, k, s, p, bias=False), nn.BatchNorm2d(cout), nn.ReLU(True))

    def forward(self, x):
        return self.conv(x)


class TDSConv(nn.Module):
    def __init__(self, cin: int, cout: int, s: int = 1) -> None:
        super().__init__()
        self.conv = nn.Sequential(
            nn.Conv2d(cin, cin, 3, s, 1, groups=cin, bias=False), nn.BatchNorm2d(cin), nn.ReLU(True),
            nn.Conv2d(cin, cout, 1, bias=False), nn.BatchNorm2d(cout), nn.ReLU(True))

    def forward(self, x):
        return self.conv(x)


class TDWConv(nn.Module):
    def __init__(self, cin: int, cout: int, s: int = 1) -> None:
        super().__init__()
        self.conv = nn.Sequential(nn.Conv2d(cin, cout, 3, s, 1, groups=cin, bias=False), nn.BatchNorm2d(cout),
                                  nn.ReLU(True))

    def forward(self, x):
        return self.conv(x)


class TLinearBottleneck(nn.Module):
    def __init__(self, cin: int, cout: int, t: int, s: int) -> None:
        super().__init__()
        self.use_shortcut = s == 1 and cin == cout
        self.block = nn.Sequential(TConvBNReLU(cin, cin * t, 1), TDWConv(cin * t, cin * t, s),
                                   nn.Conv2d(cin * t, cout, 1, bias=False), nn.BatchNorm2d(cout))

    def forward(self, x):
        out = self.block(x)
        return x + out if self.use_shortcut else out


class TPyramidPooling(nn.Module):
    def __init__(self, cin: int, cout: int) -> None:
        super().__init__()
        self.conv1, self.conv2, self.conv3, self.conv4 = (TConvBNReLU(cin, cin // 4, 1) for _ in range(4))
        self.out = TConvBNReLU(cin * 2, cout, 1)

    def forward(self, x):
        size = x.shape[2:]
        feats = [x] + [F.interpolate(conv(F.adaptive_avg_pool2d(x, b)), size, mode="bilinear", align_corners=True)
                       for conv, b in zip((self.conv1, self.conv2, self.conv3, self.conv4), (1, 2, 3, 6))]
        return self.out(torch.cat(feats, 1))


class TLearningToDownsample(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.conv = TConvBNReLU(3, 32, 3, 2)
        self.dsconv1 = TDSConv(32, 48, 2)
        self.dsconv2 = TDSConv(48, 64, 2)

    def forward(self, x):
        return self.dsconv2(self.dsconv1(self.conv(x)))


def _t_layer(cin: int, cout: int, n: int, s: int) -> nn.Sequential:
    return nn.Sequential(*[TLinearBottleneck(cin if i == 0 else cout, cout, 6, s if i == 0 else 1) for i in range(n)])


class TGlobalFeatureExtractor(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.bottleneck1 = _t_layer(64, 64, 3, 2)
        self.bottleneck2 = _t_layer(64, 96, 3, 2)
        self.bottleneck3 = _t_layer(96, 128, 3, 1)
        self.ppm = TPyramidPooling(128, 128)

    def forward(self, x):
        return self.ppm(self.bottleneck3(self.bottleneck2(self.bottleneck1(x))))


class TFeatureFusion(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.dwconv = TDWConv(128, 128, 1)
        self.conv_lower_res = nn.Sequential(nn.Conv2d(128, 128, 1), nn.BatchNorm2d(128))
        self.conv_higher_res = nn.Sequential(nn.Conv2d(64, 128, 1), nn.BatchNorm2d(128))

    def forward(self, high, low):
        low = F.interpolate(low, scale_factor=4, mode="bilinear", align_corners=True)
        return F.relu(self.conv_higher_res(high) + self.conv_lower_res(self.dwconv(low)))


class TClassifer(nn.Module):
    def __init__(self, nc: int) -> None:
        super().__init__()
        self.dsconv1 = TDSConv(128, 128)
        self.dsconv2 = TDSConv(128, 128)
        self.conv = nn.Sequential(nn.Dropout(0.1), nn.Conv2d(128, nc, 1))

    def forward(self, x):
        return self.conv(self.dsconv2(self.dsconv1(x)))


class TramacFastSCNN(nn.Module):
    def __init__(self, nc: int = 19, aux: bool = False) -> None:
        super().__init__()
        self.learning_to_downsample = TLearningToDownsample()
        self.global_feature_extractor = TGlobalFeatureExtractor()
        self.feature_fusion = TFeatureFusion()
        self.classifier = TClassifer(nc)
        if aux:
            self.auxlayer = nn.Sequential(nn.Conv2d(64, 32, 3, padding=1, bias=False), nn.BatchNorm2d(32),
                                          nn.ReLU(True), nn.Dropout(0.1), nn.Conv2d(32, nc, 1))

    def forward(self, x):
        high = self.learning_to_downsample(x)
        out = self.classifier(self.feature_fusion(high, self.global_feature_extractor(high)))
        return F.interpolate(out, x.shape[2:], mode="bilinear", align_corners=True)


# --------------------------------------------------------------------------- mmseg layout
class ConvModule(nn.Module):
    def __init__(self, cin: int, cout: int, k: int, s: int = 1, p: int = 0, groups: int = 1, act: bool = True) -> None:
        super().__init__()
        self.conv = nn.Conv2d(cin, cout, k, s, p, groups=groups, bias=False)
        self.bn = nn.BatchNorm2d(cout)
        self.activate = nn.ReLU(True) if act else nn.Identity()

    def forward(self, x):
        return self.activate(self.bn(self.conv(x)))


class DepthwiseSeparableConvModule(nn.Module):
    def __init__(self, cin: int, cout: int, s: int = 1) -> None:
        super().__init__()
        self.depthwise_conv = ConvModule(cin, cin, 3, s, 1, groups=cin, act=False)  # dw_act_cfg=None
        self.pointwise_conv = ConvModule(cin, cout, 1)

    def forward(self, x):
        return self.pointwise_conv(self.depthwise_conv(x))


class InvertedResidual(nn.Module):
    def __init__(self, cin: int, cout: int, s: int, t: int = 6) -> None:
        super().__init__()
        h = cin * t
        self.use_res_connect = s == 1 and cin == cout
        self.conv = nn.Sequential(ConvModule(cin, h, 1), ConvModule(h, h, 3, s, 1, groups=h),
                                  ConvModule(h, cout, 1, act=False))

    def forward(self, x):
        return x + self.conv(x) if self.use_res_connect else self.conv(x)


class MLearningToDownsample(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.conv = ConvModule(3, 32, 3, 2, 1)
        self.dsconv1 = DepthwiseSeparableConvModule(32, 48, 2)
        self.dsconv2 = DepthwiseSeparableConvModule(48, 64, 2)

    def forward(self, x):
        return self.dsconv2(self.dsconv1(self.conv(x)))


def _m_layer(cin: int, cout: int, n: int, s: int) -> nn.Sequential:
    return nn.Sequential(*[InvertedResidual(cin if i == 0 else cout, cout, s if i == 0 else 1) for i in range(n)])


class MGlobalFeatureExtractor(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.bottleneck1 = _m_layer(64, 64, 3, 2)
        self.bottleneck2 = _m_layer(64, 96, 3, 2)
        self.bottleneck3 = _m_layer(96, 128, 3, 1)
        self.ppm = nn.ModuleList(nn.Sequential(nn.AdaptiveAvgPool2d(b), ConvModule(128, 32, 1)) for b in (1, 2, 3, 6))
        self.out = ConvModule(256, 128, 3, p=1)

    def forward(self, x):
        x = self.bottleneck3(self.bottleneck2(self.bottleneck1(x)))
        pooled = [F.interpolate(m(x), x.shape[2:], mode="bilinear", align_corners=False) for m in self.ppm]
        return self.out(torch.cat([x, *pooled], 1))


class MFeatureFusion(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.dwconv = ConvModule(128, 128, 3, p=1, groups=128)
        self.conv_lower_res = ConvModule(128, 128, 1, act=False)
        self.conv_higher_res = ConvModule(64, 128, 1, act=False)

    def forward(self, high, low):
        low = F.interpolate(low, high.shape[2:], mode="bilinear", align_corners=False)
        return F.relu(self.conv_higher_res(high) + self.conv_lower_res(self.dwconv(low)))


class MBackbone(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.learning_to_downsample = MLearningToDownsample()
        self.global_feature_extractor = MGlobalFeatureExtractor()
        self.feature_fusion = MFeatureFusion()

    def forward(self, x):
        high = self.learning_to_downsample(x)
        low = self.global_feature_extractor(high)
        return high, low, self.feature_fusion(high, low)


class FCNHead(nn.Module):
    def __init__(self, cin: int, nc: int, sep: bool) -> None:
        super().__init__()
        convs: List[nn.Module] = ([DepthwiseSeparableConvModule(cin, 128), DepthwiseSeparableConvModule(128, 128)]
                                  if sep else [ConvModule(cin, 32, 3, p=1)])
        self.convs = nn.Sequential(*convs)
        self.dropout = nn.Dropout2d(0.1)
        self.conv_seg = nn.Conv2d(128 if sep else 32, nc, 1)

    def forward(self, x):
        return self.conv_seg(self.dropout(self.convs(x)))


class MmsegFastSCNN(nn.Module):
    def __init__(self, nc: int = 19, aux: bool = True) -> None:
        super().__init__()
        self.backbone = MBackbone()
        self.decode_head = FCNHead(128, nc, sep=True)
        if aux:
            self.auxiliary_head = nn.ModuleList([FCNHead(128, nc, sep=False), FCNHead(64, nc, sep=False)])

    def forward(self, x):
        out = self.decode_head(self.backbone(x)[-1])
        return F.interpolate(out, x.shape[2:], mode="bilinear", align_corners=False)


# --------------------------------------------------------------------------- helpers
def _randomize(model: nn.Module, seed: int) -> nn.Module:
    """Random weights and BN statistics, so a misplaced tensor changes the output."""
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, nn.BatchNorm2d):
                m.weight.copy_(torch.rand(m.weight.shape, generator=g) + 0.5)
                m.bias.copy_(torch.randn(m.bias.shape, generator=g) * 0.1)
                m.running_mean.copy_(torch.randn(m.running_mean.shape, generator=g) * 0.1)
                m.running_var.copy_(torch.rand(m.running_var.shape, generator=g) + 0.5)
                m.num_batches_tracked.fill_(7)
            elif isinstance(m, nn.Conv2d):
                m.weight.copy_(torch.randn(m.weight.shape, generator=g) * (2.0 / m.weight[0].numel()) ** 0.5)
                if m.bias is not None:
                    m.bias.copy_(torch.randn(m.bias.shape, generator=g) * 0.1)
    return model.eval()


def _input(seed: int = 0) -> torch.Tensor:
    return torch.randn(1, 3, *RES, generator=torch.Generator().manual_seed(seed))


def _assert_same(ours: torch.Tensor, ref: torch.Tensor) -> None:
    assert ours.shape == ref.shape
    assert ref.abs().max() > 1e-2, "reference output is ~0: the comparison would prove nothing"
    torch.testing.assert_close(ours, ref, atol=1e-5, rtol=1e-4)


@pytest.fixture(scope="module")
def tramac_ref() -> TramacFastSCNN:
    torch.manual_seed(0)
    return _randomize(TramacFastSCNN(aux=True), 1)


@pytest.fixture(scope="module")
def mmseg_ref() -> MmsegFastSCNN:
    torch.manual_seed(0)
    return _randomize(MmsegFastSCNN(aux=True), 2)


def _one_line(exc: pytest.ExceptionInfo) -> str:
    text = str(exc.value)
    assert "\n" not in text and "Fix:" in text, text
    return text


# --------------------------------------------------------------------------- tests
def test_tramac_plain_state_dict_matches_reference_after_save_and_load(tmp_path, tramac_ref):
    src = tmp_path / "fast_scnn_citys.pth"
    torch.save({k: v for k, v in tramac_ref.state_dict().items() if not k.startswith("auxlayer")}, src)
    ckpt = import_checkpoint(src, "tramac")
    assert ckpt.arch == "tramac" and ckpt.num_classes == 19 and ckpt.extra["aux_tensors"] == 0
    out = save(ckpt, tmp_path / "native.pt")
    model, loaded = resolve_model(out, None)  # the path `export --weights` takes
    assert loaded is not None and loaded.state_sha256 == ckpt.state_sha256
    x = _input()
    with torch.no_grad():
        _assert_same(model(x), tramac_ref(x))


def test_tramac_wrapped_with_module_prefix_keeps_its_aux_head(tmp_path, tramac_ref):
    src = tmp_path / "wrapped.pth"
    torch.save({"state_dict": {f"module.{k}": v for k, v in tramac_ref.state_dict().items()}, "epoch": 3}, src)
    ckpt = import_checkpoint(src, "tramac")
    assert ckpt.extra["aux_tensors"] == 8  # conv, 5 BN tensors, 1x1 conv weight + bias
    model = ckpt.build_model(aux=True)
    x = _input(1)
    with torch.no_grad():
        _assert_same(model(x), tramac_ref(x))
        high = model.learning_to_downsample(x)
        _assert_same(model.aux_lds(high), tramac_ref.auxlayer(tramac_ref.learning_to_downsample(x)))


def test_mmseg_checkpoint_matches_reference_and_places_aux_heads_by_channels(tmp_path, mmseg_ref):
    src = tmp_path / "fast_scnn_lr0.12_8x4_160k_cityscapes.pth"
    torch.save({"meta": {"CLASSES": ["road"] * 19, "iter": 160000}, "state_dict": mmseg_ref.state_dict()}, src)
    ckpt = import_checkpoint(src, "mmseg")
    assert ckpt.arch == "mmseg" and ckpt.extra["aux_tensors"] == 16
    assert ckpt.config["conv1_padding"] == 1
    model, _ = resolve_model(save(ckpt, tmp_path / "native.pt"), None)
    x = _input(2)
    with torch.no_grad():
        _assert_same(model(x), mmseg_ref(x))
        with_aux = load(tmp_path / "native.pt").build_model(aux=True)
        high, low, _ = mmseg_ref.backbone(x)
        _assert_same(with_aux.aux_gfe(low), mmseg_ref.auxiliary_head[0](low))
        _assert_same(with_aux.aux_lds(high), mmseg_ref.auxiliary_head[1](high))


def test_mmseg_layout_needs_first_conv_padding_1(tmp_path, mmseg_ref):
    """Why the import overrides conv1_padding: with padding 0 the numbers are not mmseg's."""
    from fastscnn_edge.model.network import FastSCNN

    src = tmp_path / "m.pth"
    torch.save({"state_dict": mmseg_ref.state_dict()}, src)
    ckpt = import_checkpoint(src, "mmseg")
    cfg = replace(ckpt.build_model().cfg, conv1_padding=0)
    wrong = FastSCNN(cfg)
    wrong.load_state_dict({k: v for k, v in ckpt.state_dict.items() if not k.startswith("aux_")})
    x = _input(3)
    with torch.no_grad():
        assert (wrong.eval()(x) - mmseg_ref(x)).abs().max() > 1e-3


def test_missing_batchnorm_counters_are_filled(tmp_path, tramac_ref):
    src = tmp_path / "old.pth"
    torch.save({k: v for k, v in tramac_ref.state_dict().items() if not k.endswith("num_batches_tracked")}, src)
    ckpt = import_checkpoint(src, "tramac")
    assert any("num_batches_tracked" in n for n in ckpt.extra["notes"])
    x = _input(4)
    with torch.no_grad():
        _assert_same(ckpt.build_model()(x), tramac_ref(x))


@pytest.mark.parametrize("case, needle", [
    ("missing", "missing"),
    ("extra", "no place"),
    ("shape", "other shapes"),
    ("text", "not a loadable PyTorch checkpoint"),
    ("list", "not a state dict"),
    ("wrong_source", "no place"),
    ("classes", "has 19 classes, not the 21"),
    ("old_mmseg", "before its June 2021 fix"),
])
def test_bad_checkpoints_give_one_line_errors(tmp_path, tramac_ref, mmseg_ref, case, needle):
    sd = {k: v for k, v in tramac_ref.state_dict().items() if not k.startswith("auxlayer")}
    source, classes = "tramac", None
    src = tmp_path / "bad.pth"
    if case == "missing":
        sd.pop("feature_fusion.conv_lower_res.0.bias")
    elif case == "extra":
        sd["classifier.extra_head.weight"] = torch.zeros(3)
    elif case == "shape":
        sd["classifier.conv.1.bias"] = torch.zeros(18)
    elif case == "wrong_source":
        source = "mmseg"
    elif case == "classes":
        classes = 21
    elif case == "old_mmseg":
        source = "mmseg"
        sd = dict(mmseg_ref.state_dict())
        sd["backbone.feature_fusion.dwconv.conv.weight"] = torch.zeros(128, 128, 1, 1)
    if case == "text":
        src.write_text("not a checkpoint\n")
    elif case == "list":
        torch.save([torch.zeros(1)], src)
    else:
        torch.save(sd, src)
    with pytest.raises(UserError) as exc:
        import_checkpoint(src, source, classes)
    assert needle in _one_line(exc)


def test_import_weights_cli_writes_checkpoint_and_next_step(tmp_path, tramac_ref):
    from typer.testing import CliRunner

    from fastscnn_edge.cli import app

    src = tmp_path / "fast_scnn_citys.pth"
    torch.save(tramac_ref.state_dict(), src)
    out = tmp_path / "out" / "tramac.pt"
    r = CliRunner().invoke(app, ["import-weights", str(src), "--from", "tramac", "-o", str(out)])
    assert r.exit_code == 0, r.output
    assert out.is_file() and load(out).arch == "tramac"
    assert "1,138,051" in r.output and f"next: fastscnn-edge export --weights {out}" in r.output

    bad = tmp_path / "bad.pth"
    bad.write_text("nope")
    out2 = tmp_path / "out" / "bad.pt"
    r = CliRunner().invoke(app, ["import-weights", str(bad), "--from", "tramac", "-o", str(out2)])
    assert r.exit_code != 0 and isinstance(r.exception, UserError)
    assert not out2.exists() and sorted(p.name for p in out2.parent.iterdir()) == ["tramac.pt"]


def test_weights_download_import_end_to_end(tmp_path, tramac_ref, monkeypatch):
    """`weights download NAME --import`: verified file, then a native checkpoint beside it."""
    import hashlib

    from typer.testing import CliRunner

    from fastscnn_edge.cli import app
    from fastscnn_edge.model import registry

    src = tmp_path / "pub" / "fast_scnn_citys.pth"
    src.parent.mkdir()
    torch.save(tramac_ref.state_dict(), src)
    entry = registry.PublicWeights(name="local-tramac", url=src.as_uri(), filename=src.name, source="tramac",
                                   num_classes=19, miou=54.84, licence="test", notes="",
                                   sha256=hashlib.sha256(src.read_bytes()).hexdigest())
    monkeypatch.setitem(registry.REGISTRY, entry.name, entry)
    r = CliRunner().invoke(app, ["weights", "download", entry.name, "--import", "--dir", str(tmp_path / "models")])
    assert r.exit_code == 0, r.output
    native = tmp_path / "models" / "fast_scnn_citys.native.pt"
    ckpt = load(native)
    assert ckpt.source.startswith("local-tramac") and "54.84" in ckpt.source
    x = _input(5)
    with torch.no_grad():
        _assert_same(ckpt.build_model()(x), tramac_ref(x))


def test_aux_head_of_another_shape_is_dropped_with_a_note(tmp_path, tramac_ref):
    sd = dict(tramac_ref.state_dict())
    sd["auxlayer.0.weight"] = torch.zeros(48, 64, 3, 3)
    for k in ("weight", "bias", "running_mean", "running_var"):
        sd[f"auxlayer.1.{k}"] = torch.ones(48)
    sd["auxlayer.4.weight"] = torch.zeros(19, 48, 1, 1)
    src = tmp_path / "aux48.pth"
    torch.save(sd, src)
    ckpt = import_checkpoint(src, "tramac")
    assert ckpt.extra["aux_tensors"] == 0 and not any(k.startswith("aux_") for k in ckpt.state_dict)
    assert "auxlayer.0.weight" in ckpt.extra["dropped"] and any("aux" in n for n in ckpt.extra["notes"])


def test_imported_mmseg_checkpoint_exports_and_matches_the_reference(tmp_path, mmseg_ref):
    """import -> export chain: the ONNX logits equal the public network's at 1/8 scale."""
    import numpy as np
    import onnxruntime as ort

    from fastscnn_edge.export.to_onnx import ExportSpec, export_onnx

    src = tmp_path / "m.pth"
    torch.save({"state_dict": mmseg_ref.state_dict()}, src)
    native = save(import_checkpoint(src, "mmseg"), tmp_path / "native.pt")
    res = export_onnx(ExportSpec(weights=native, head="logits", res=(64, 128), output=tmp_path / "m.onnx"))
    x = torch.randn(1, 3, 64, 128, generator=torch.Generator().manual_seed(6))
    sess = ort.InferenceSession(str(res.path), providers=["CPUExecutionProvider"])
    (got,) = sess.run(None, {sess.get_inputs()[0].name: x.numpy()})
    with torch.no_grad():
        want = mmseg_ref.decode_head(mmseg_ref.backbone(x)[-1]).numpy()
    assert got.shape == want.shape == (1, 19, 8, 16)
    scale = float(np.abs(want).max())  # random BN statistics give logits in the hundreds
    assert scale > 1e-2
    np.testing.assert_allclose(got, want, atol=1e-5 * scale, rtol=0)
