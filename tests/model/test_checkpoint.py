"""The native checkpoint: round trip, safe loading, metadata."""

import pickle

import pytest
import torch

from fastscnn_edge.core.errors import UserError
from fastscnn_edge.model.checkpoint import FORMAT, from_model, load, load_raw, resolve_model, save, state_sha256
from fastscnn_edge.model.network import build_model


def test_round_trip_keeps_weights_and_metadata(tmp_path):
    torch.manual_seed(1)
    m = build_model("tramac", 5).eval()
    ck = from_model(m, source="unit test", class_names=list("abcde"), mean=(0.5, 0.5, 0.5), std=(0.2, 0.2, 0.2))
    p = save(ck, tmp_path / "c.pt")
    back = load(p)
    assert (back.arch, back.num_classes, back.class_names, back.source) == ("tramac", 5, list("abcde"), "unit test")
    assert back.mean == (0.5, 0.5, 0.5) and back.state_sha256 == state_sha256(m.state_dict())
    x = torch.randn(1, 3, 64, 96)
    with torch.no_grad():
        assert torch.equal(back.build_model()(x), m(x))
    assert torch.load(p, weights_only=True)["format"] == FORMAT


def test_hash_changes_with_any_weight():
    m = build_model("paper")
    h = state_sha256(m.state_dict())
    with torch.no_grad():
        m.classifier.conv.bias[0] += 1e-3
    assert state_sha256(m.state_dict()) != h


def test_loading_never_unpickles_arbitrary_objects(tmp_path):
    class Evil:
        def __reduce__(self):
            return (print, ("pwned",))

    p = tmp_path / "evil.pt"
    with open(p, "wb") as f:
        pickle.dump({"state_dict": Evil()}, f)
    with pytest.raises(UserError, match="not a loadable PyTorch checkpoint"):
        load_raw(p)


def test_wrong_arch_or_classes_is_explained(tmp_path):
    p = save(from_model(build_model("paper", 19)), tmp_path / "c.pt")
    ck = load(p)
    ck.num_classes = 7
    with pytest.raises(UserError, match="does not fit"):
        ck.build_model()
    with pytest.raises(UserError, match="--arch"):
        resolve_model(p, "mmseg")


def test_interrupted_save_leaves_nothing(tmp_path, monkeypatch):
    def boom(*a, **k):
        raise KeyboardInterrupt

    monkeypatch.setattr(torch, "save", boom)
    with pytest.raises(KeyboardInterrupt):
        save(from_model(build_model("paper")), tmp_path / "c.pt")
    assert list(tmp_path.iterdir()) == []
