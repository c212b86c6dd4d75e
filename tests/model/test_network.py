"""The reference model against the paper's Table 1 and its published numbers."""

import pytest
import torch
import torch.nn.functional as F

from fastscnn_edge.model.network import (
    GFE_STAGES, VARIANTS, FastSCNN, adaptive_pool_matrix, build_model, count_parameters, layer_table,
)


def test_table1_stages_and_output_shapes_at_1024x2048():
    rows = {r.name: r for r in layer_table(build_model("paper"), (1024, 2048))}
    # Table 1: output of each block for a 1024x2048 input.
    assert rows["learning_to_downsample.conv"].out_shape == (1, 32, 512, 1024)
    assert rows["learning_to_downsample.dsconv1"].out_shape == (1, 48, 256, 512)
    assert rows["learning_to_downsample.dsconv2"].out_shape == (1, 64, 128, 256)
    assert rows["global_feature_extractor.bottleneck1"].out_shape == (1, 64, 64, 128)
    assert rows["global_feature_extractor.bottleneck2"].out_shape == (1, 96, 32, 64)
    assert rows["global_feature_extractor.bottleneck3"].out_shape == (1, 128, 32, 64)
    assert rows["global_feature_extractor.ppm"].out_shape == (1, 128, 32, 64)
    assert rows["feature_fusion"].out_shape == (1, 128, 128, 256)
    assert rows["classifier.conv"].out_shape == (1, 19, 128, 256)
    assert rows["upsample"].out_shape == (1, 19, 1024, 2048)
    assert [s[:3] for s in GFE_STAGES] == [(6, 64, 3), (6, 96, 3), (6, 128, 3)]


def test_parameter_counts_match_paper_and_public_code():
    paper = count_parameters(build_model("paper"))
    # The paper's 1.11 M is the conv weights; Tramac's code has 1,138,051 parameters in all.
    assert round(paper["conv"] / 1e6, 2) == 1.11
    assert count_parameters(build_model("tramac"))["all"] == 1_138_051
    assert 1.35e6 < count_parameters(build_model("mmseg"))["all"] < 1.45e6  # "about 1.40 M"


@pytest.mark.parametrize("n", [32, 16, 8, 7, 5, 2, 1])
@pytest.mark.parametrize("bins", [1, 2, 3, 6])
def test_pool_matrix_equals_adaptive_avg_pool(n, bins):
    v = torch.randn(3, n, dtype=torch.float64)
    ref = F.adaptive_avg_pool1d(v[None], bins)[0]
    got = v @ adaptive_pool_matrix(n, bins, torch.float64).T
    assert torch.allclose(got, ref, atol=1e-12)


@pytest.mark.parametrize("arch", list(VARIANTS))
@pytest.mark.parametrize("res", [(64, 128), (96, 160)])
def test_exact_matmul_ppm_matches_eager(arch, res):
    torch.manual_seed(0)
    m = build_model(arch).eval()
    x = torch.randn(1, 3, *res)
    with torch.no_grad():
        ref = m(x)
        m.set_exact_export(True)
        got = m(x)
    assert got.shape == (1, 19, *res)
    assert (got - ref).abs().max().item() < 1e-5


def test_variants_differ_only_in_their_switches():
    p, t = VARIANTS["paper"], VARIANTS["tramac"]
    assert (p.conv1_padding, p.ffm_dilation, p.ffm_pw_bias, p.align_corners) == (1, 4, False, False)
    assert (t.conv1_padding, t.ffm_dilation, t.ffm_pw_bias, t.align_corners) == (0, 1, True, True)
    m = build_model("paper")
    assert m.feature_fusion.conv_dw[0].dilation == (4, 4)
    assert build_model("tramac").learning_to_downsample.conv[0].padding == (0, 0)


def test_aux_heads_in_training_only():
    m = FastSCNN(VARIANTS["paper"], aux=True)
    x = torch.randn(2, 3, 64, 128)
    out = m.train()(x)
    assert isinstance(out, tuple) and len(out) == 3 and all(o.shape == (2, 19, 64, 128) for o in out)
    assert m.eval()(x).shape == (2, 19, 64, 128)
    assert count_parameters(m)["all"] == count_parameters(build_model("paper"))["all"]


def test_other_class_count_and_unknown_arch():
    from fastscnn_edge.core.errors import UserError

    assert build_model("paper", 5).eval()(torch.randn(1, 3, 64, 64)).shape == (1, 5, 64, 64)
    with pytest.raises(UserError, match="unknown architecture"):
        build_model("resnet")
