"""Training: the loss falls, a tiny set is fitted, resume is exact, bad data fails before training."""

import shutil

import cv2
import numpy as np
import pytest
import torch

from fastscnn_edge.core.errors import UserError
from fastscnn_edge.data.synth import generate, scene_paths
from fastscnn_edge.model import checkpoint
from fastscnn_edge.train.data import load_split
from fastscnn_edge.train.loop import TrainConfig, param_groups, poly_lr, seg_loss, train, validate

SIZE = (64, 128)


@pytest.fixture(scope="module")
def scenes(tmp_path_factory):  # noqa: ANN001, ANN201
    return generate(tmp_path_factory.mktemp("scenes"), 6, 2, SIZE, seed=0)


def _cfg(data, out, **kw) -> TrainConfig:  # noqa: ANN001
    base = dict(data=data, out=out, crop=SIZE, batch=2, iters=10, ckpt_every=5)
    base.update(kw)
    return TrainConfig(**base)


def test_loss_falls(scenes, tmp_path):  # noqa: ANN001
    r = train(_cfg(scenes, tmp_path, iters=30, val_every=30))
    first, last = np.mean(r.losses[:5]), np.mean(r.losses[-5:])
    assert last < 0.6 * first, (first, last)
    assert r.val_miou is not None and 0 <= r.val_miou <= 1
    rows = (tmp_path / "log.csv").read_text().splitlines()
    assert rows[0].startswith("iteration,epoch,loss") and len(rows) == 31
    assert float(rows[1].split(",")[4]) == pytest.approx(0.045)  # poly schedule starts at the base lr
    assert (tmp_path / "best.pt").is_file() and (tmp_path / "train_config.json").is_file()


def test_tiny_set_is_fitted_to_a_high_training_miou(tmp_path):  # noqa: ANN001
    data = generate(tmp_path / "data", 2, 0, SIZE, seed=0)
    r = train(_cfg(data, tmp_path / "run", iters=150, lr=0.15, augment=False, ckpt_every=1000))
    model = checkpoint.load(r.checkpoint).build_model()
    miou, ious = validate(model, load_split(data, "cityscapes", "train", 19, required=True), "cityscapes", 19,
                          torch.device("cpu"))
    assert miou > 0.6, ious  # over the 7-8 classes present; thin poles and small people are the hard ones
    assert ious[0] > 0.85 and ious[10] > 0.8  # road, sky


def test_resume_reproduces_an_uninterrupted_run(scenes, tmp_path):  # noqa: ANN001
    straight = train(_cfg(scenes, tmp_path / "a", val_every=4))
    half = train(_cfg(scenes, tmp_path / "b", val_every=4), stop_at=5)
    assert half.iterations == 5 and (tmp_path / "b" / "train_state.pt").is_file()
    resumed = train(_cfg(scenes, tmp_path / "b", val_every=4), resume=True)
    assert resumed.iterations == straight.iterations == 10
    assert resumed.losses == straight.losses[5:]
    a = torch.load(tmp_path / "a" / "train_state.pt", weights_only=True)
    b = torch.load(tmp_path / "b" / "train_state.pt", weights_only=True)
    assert a["model"].keys() == b["model"].keys()
    for k in a["model"]:
        assert torch.equal(a["model"][k], b["model"][k]), k
    for k, s in a["optimizer"]["state"].items():
        assert torch.equal(s["momentum_buffer"], b["optimizer"]["state"][k]["momentum_buffer"])
    assert (tmp_path / "a" / "log.csv").read_text().count("\n") == (tmp_path / "b" / "log.csv").read_text().count("\n")


def test_resume_refuses_other_settings_and_a_missing_state(scenes, tmp_path):  # noqa: ANN001
    train(_cfg(scenes, tmp_path, iters=4), stop_at=2)
    with pytest.raises(UserError, match="other settings"):
        train(_cfg(scenes, tmp_path, iters=4, lr=0.01), resume=True)
    with pytest.raises(UserError, match="no training state"):
        train(_cfg(scenes, tmp_path / "new", iters=4), resume=True)


def test_fine_tune_to_another_class_count_keeps_the_backbone(scenes, tmp_path):  # noqa: ANN001
    train(_cfg(scenes, tmp_path / "city", iters=2))
    folder = generate(tmp_path / "folder", 2, 0, SIZE, seed=1, format="folder")
    said = []
    steps = []
    r = train(_cfg(folder, tmp_path / "ft", format="folder", iters=1, lr=1e-12,
                   weights=tmp_path / "city" / "checkpoint.pt"),
              log=said.append, progress=lambda task, done, total: steps.append((task.split(":")[0], done, total)))
    assert any("classifier re-initialised for 8 classes (was 19)" in m for m in said)
    assert ("checking train pairs", 2, 2) in steps and steps[-1] == ("training", 1, 1)
    before, after = checkpoint.load(tmp_path / "city" / "checkpoint.pt"), checkpoint.load(r.checkpoint)
    assert after.num_classes == 8 and after.class_names[0] == "road"
    assert after.state_dict["classifier.conv.weight"].shape[0] == 8
    key = "learning_to_downsample.conv.0.weight"
    assert torch.allclose(before.state_dict[key], after.state_dict[key], atol=1e-9)
    with pytest.raises(UserError, match="--arch tramac"):
        train(_cfg(folder, tmp_path / "x", format="folder", weights=tmp_path / "city" / "checkpoint.pt", arch="tramac"),
              )


def test_weight_decay_skips_depthwise_convs_bn_and_biases():
    from fastscnn_edge.model.network import build_model

    model = build_model(aux=True)
    decay, no_decay = param_groups(model, 4e-5)
    ids = {id(p) for p in decay["params"]}
    for m in model.modules():
        if isinstance(m, torch.nn.Conv2d):
            depthwise = m.groups > 1 and m.groups == m.in_channels
            assert (id(m.weight) in ids) != depthwise
        if isinstance(m, torch.nn.BatchNorm2d):
            assert id(m.weight) not in ids and id(m.bias) not in ids
    assert decay["weight_decay"] == 4e-5 and no_decay["weight_decay"] == 0
    assert poly_lr(0.045, 0, 100, 0.9) == 0.045 and poly_lr(0.045, 50, 100, 0.9) == pytest.approx(0.045 * 0.5 ** 0.9)


def _copy(scenes, tmp_path):  # noqa: ANN001, ANN202
    return shutil.copytree(scenes, tmp_path / "data")


def test_missing_mask_is_refused_before_training(scenes, tmp_path):  # noqa: ANN001
    data = _copy(scenes, tmp_path)
    scene_paths(data, "train", 3)[1].unlink()
    with pytest.raises(UserError, match="1 train image.*no mask.*synthtown_000000_000003"):
        train(_cfg(data, tmp_path / "out"))
    assert not (tmp_path / "out").exists()


def test_mismatched_mask_size_is_refused(scenes, tmp_path):  # noqa: ANN001
    data = _copy(scenes, tmp_path)
    lab_path = scene_paths(data, "train", 2)[1]
    cv2.imwrite(str(lab_path), np.zeros((32, 64), np.uint8))
    with pytest.raises(UserError, match="32x64 but its image"):
        train(_cfg(data, tmp_path / "out"))


def test_label_outside_the_class_range_is_refused(tmp_path):  # noqa: ANN001
    data = generate(tmp_path / "folder", 2, 0, SIZE, seed=0, format="folder")
    mask = tmp_path / "folder" / "train" / "masks" / "synthtown_000000_000001.png"
    lab = cv2.imread(str(mask), cv2.IMREAD_UNCHANGED)
    lab[0, 0] = 9
    cv2.imwrite(str(mask), lab)
    with pytest.raises(UserError, match="holds class 9, but there are 8 classes"):
        train(_cfg(data, tmp_path / "out", format="folder"))


def test_crop_larger_than_the_images_names_the_image(scenes, tmp_path):  # noqa: ANN001
    with pytest.raises(UserError, match=r"crop 96x128 is larger than image .*synthtown_000000_000000.*\(64x128\)"):
        train(_cfg(scenes, tmp_path, crop=(96, 128)))


def test_cli_trains_and_reports_errors_in_one_line(scenes, tmp_path, capsys):  # noqa: ANN001
    from fastscnn_edge.cli import main

    with pytest.raises(SystemExit) as exit_info:
        main(["train", "--data", str(scenes), "--crop", "64x128", "--batch", "2", "--iters", "2",
              "--output", str(tmp_path / "cli")])
    assert exit_info.value.code == 0
    out = capsys.readouterr().out
    assert "trained 2/2 iterations" in out and "fastscnn-edge export --weights" in out
    assert checkpoint.load(tmp_path / "cli" / "checkpoint.pt").num_classes == 19
    with pytest.raises(SystemExit) as exit_info:
        main(["train", "--data", str(scenes), "--crop", "128x256", "--iters", "2", "--output", str(tmp_path / "bad")])
    assert exit_info.value.code == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("error: crop 128x256 is larger than image")
    with pytest.raises(SystemExit) as exit_info:
        main(["train", "--data", str(scenes), "--iters", "2", "--epochs", "1"])
    assert exit_info.value.code == 2 and "both given" in capsys.readouterr().err
    with pytest.raises(SystemExit) as exit_info:
        main(["train", "--data", str(scenes), "--batch", "1"])
    assert exit_info.value.code == 2 and "at least 2 images" in capsys.readouterr().err


def test_batches_do_not_depend_on_the_worker_count(scenes, tmp_path):  # noqa: ANN001
    inline = train(_cfg(scenes, tmp_path / "w0", iters=3, workers=0))
    workers = train(_cfg(scenes, tmp_path / "w2", iters=3, workers=2))
    assert inline.losses == workers.losses


def test_loss_ignores_void_and_stays_finite_on_an_all_void_batch():
    logits = torch.randn(2, 4, 8, 8)
    target = torch.randint(0, 4, (2, 8, 8))
    target[0, :4] = 255
    total, main = seg_loss((logits, logits, logits), target, 0.4)
    expected = torch.nn.functional.cross_entropy(logits, target, ignore_index=255)
    assert torch.allclose(main, expected) and torch.allclose(total, 1.8 * expected)
    void, _ = seg_loss(logits, torch.full((2, 8, 8), 255), 0.4)
    assert float(void) == 0.0
