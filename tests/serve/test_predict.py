"""`predict` on images, folders and videos: sizes, formats, names the official evaluation finds."""

from __future__ import annotations

from pathlib import Path
from typing import List

import cv2
import numpy as np
import pytest
from tests.data.test_datasets import CITY_FRAMES, write_cityscapes
from tests.bench.test_evaluate import RES, export_varied
from tests.data.test_metrics import official_args

from fastscnn_edge.core.errors import UserError
from fastscnn_edge.data import datasets
from fastscnn_edge.serve.predict import check_format, collect_sources, predict


@pytest.fixture(scope="module")
def model(tmp_path_factory) -> Path:  # noqa: ANN001
    return export_varied(tmp_path_factory.mktemp("model") / "m.onnx")


@pytest.fixture(scope="module")
def runner(model):  # noqa: ANN001, ANN201
    from fastscnn_edge.runtime.backends import open_runner

    with open_runner(model) as r:
        yield r


def _image(path: Path, size=(100, 150), seed: int = 0) -> Path:  # noqa: ANN001
    rng = np.random.default_rng(seed)
    coarse = rng.integers(0, 256, (size[0] // 10, size[1] // 10, 3), dtype=np.uint8)
    path.parent.mkdir(parents=True, exist_ok=True)
    assert cv2.imwrite(str(path), cv2.resize(coarse, (size[1], size[0])))
    return path


def _video(path: Path, frames: int = 5, size=(72, 96)) -> Path:  # noqa: ANN001
    w = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"mp4v"), 10.0, (size[1], size[0]))
    assert w.isOpened()
    rng = np.random.default_rng(0)
    for _ in range(frames):
        w.write(cv2.resize(rng.integers(0, 256, (8, 8, 3), dtype=np.uint8), (size[1], size[0])))
    w.release()
    return path


def _read_video(path: Path) -> List[np.ndarray]:
    cap = cv2.VideoCapture(str(path))
    frames = []
    while True:
        ok, f = cap.read()
        if not ok:
            break
        frames.append(f)
    cap.release()
    return frames


def test_official_evaluation_finds_every_labelid_prediction(model, runner, tmp_path, monkeypatch):
    from fastscnn_edge.bench.evaluate import predict_labels
    from fastscnn_edge.data.preprocess import read_image_bgr

    gts = write_cityscapes(tmp_path / "cs")
    out = tmp_path / "results"
    result = predict(model, [str(tmp_path / "cs" / "leftImg8bit" / "val")], out, "cityscapes-labelids")
    assert result.images == 3 and len(result.outputs) == 3
    ev, args = official_args(monkeypatch, out)
    for gt, (city, name) in zip(gts, CITY_FRAMES):
        found = Path(ev.getPrediction(args, str(gt)))
        assert found == out / city / f"{name}_leftImg8bit.png"
        pred = cv2.imread(str(found), cv2.IMREAD_UNCHANGED)
        image = read_image_bgr(tmp_path / "cs" / "leftImg8bit" / "val" / city / f"{name}_leftImg8bit.png")
        assert pred.dtype == np.uint8 and pred.shape == image.shape[:2]
        assert np.array_equal(pred, datasets.TRAIN_TO_LABEL_ID[predict_labels(runner, image)])
        assert set(np.unique(pred)) <= set(datasets.TRAIN_TO_LABEL_ID.tolist())


def test_any_input_size_comes_back_at_its_size(model, tmp_path):
    img = _image(tmp_path / "in" / "odd.jpg", size=(100, 150))
    for fmt in ("trainids", "color", "overlay"):
        out = tmp_path / fmt
        result = predict(model, [str(img)], out, fmt)
        written = cv2.imread(str(result.outputs[0]), cv2.IMREAD_UNCHANGED)
        assert result.outputs == [out / "odd.png"]
        if fmt == "trainids":
            assert written.shape == (100, 150) and written.max() < 19
            ids = written
        else:
            assert written.shape == (100, 150, 3)
    colour = cv2.imread(str(tmp_path / "color" / "odd.png"))
    palette_bgr = datasets.CITYSCAPES_PALETTE[:, ::-1]
    assert np.array_equal(colour, palette_bgr[ids])
    overlay = cv2.imread(str(tmp_path / "overlay" / "odd.png"))
    assert not np.array_equal(overlay, colour)


def test_video_in_video_out(model, tmp_path):
    video = _video(tmp_path / "clip.mp4", frames=5)
    result = predict(model, [str(video)], tmp_path / "out", "color")
    target = tmp_path / "out" / "clip.mp4"
    assert result.outputs == [target] and result.frames == 5 and result.video_fps[str(target)] > 0
    frames = _read_video(target)
    assert len(frames) == 5 and frames[0].shape == (72, 96, 3)
    assert [p.name for p in (tmp_path / "out").iterdir()] == ["clip.mp4"]  # no temporary left behind
    capped = predict(model, [str(video)], tmp_path / "capped", "overlay", max_frames=2)
    assert capped.frames == 2 and len(_read_video(capped.outputs[0])) == 2


def test_video_needs_a_colour_format(model, tmp_path):
    video = _video(tmp_path / "clip.mp4", frames=1)
    with pytest.raises(UserError, match="use --format color or overlay"):
        predict(model, [str(video)], tmp_path / "out", "trainids")
    assert not (tmp_path / "out").exists()


def test_corrupt_video_is_a_user_error_and_writes_nothing(model, tmp_path):
    bad = tmp_path / "bad.mp4"
    bad.write_bytes(b"\x00" * 100)
    with pytest.raises(UserError, match="bad.mp4"):
        predict(model, [str(bad)], tmp_path / "out", "color")
    assert not any((tmp_path / "out").glob("*")) if (tmp_path / "out").exists() else True


def test_corrupt_image_is_skipped_and_counted(model, tmp_path):
    _image(tmp_path / "in" / "good.png")
    (tmp_path / "in" / "broken.png").write_bytes(b"junk")
    warnings: List[str] = []
    result = predict(model, [str(tmp_path / "in")], tmp_path / "out", "trainids", warn=warnings.append)
    assert result.images == 1 and result.skipped == [str(tmp_path / "in" / "broken.png")]
    assert len(warnings) == 1 and "broken.png" in warnings[0]
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["good.png"]
    with pytest.raises(UserError, match="nothing was written"):
        predict(model, [str(tmp_path / "in" / "broken.png")], tmp_path / "out2", warn=warnings.append)


def test_bad_inputs(tmp_path):
    (tmp_path / "empty").mkdir()
    with pytest.raises(UserError, match="holds no image"):
        collect_sources([str(tmp_path / "empty")])
    with pytest.raises(UserError, match="does not exist"):
        collect_sources([str(tmp_path / "missing.png")])
    _image(tmp_path / "a" / "x.png")
    _image(tmp_path / "b" / "x.png")
    with pytest.raises(UserError, match="both be written as x.png"):
        collect_sources([str(tmp_path / "a"), str(tmp_path / "b")])
    assert collect_sources(["3"])[0].camera == 3  # a number that is not a path is a camera
    with pytest.raises(UserError, match="not the 19 Cityscapes"):
        check_format("cityscapes-labelids", 3, [])
    with pytest.raises(UserError, match="unknown output format"):
        check_format("jpeg", 19, [])


def test_output_folder_inside_the_input_folder_is_not_read_back(model, tmp_path):
    _image(tmp_path / "in" / "a.png")
    for _ in range(2):
        result = predict(model, [str(tmp_path / "in")], tmp_path / "in" / "pred", "color")
        assert result.outputs == [tmp_path / "in" / "pred" / "a.png"]


def test_palette_is_fixed_per_class_count():
    from fastscnn_edge.data.palette import palette_bgr

    assert np.array_equal(palette_bgr(19)[:19], datasets.CITYSCAPES_PALETTE[:, ::-1])
    three = palette_bgr(3)
    assert np.array_equal(three, palette_bgr(3)) and len({tuple(c) for c in three[:3].tolist()}) == 3
    assert not three[3:].any()  # ignore (255) and unused IDs are black


def test_refuses_to_overwrite_its_input(model, tmp_path):
    img = _image(tmp_path / "x.png")
    with pytest.raises(UserError, match="would overwrite it"):
        predict(model, [str(img)], tmp_path, "trainids")
    assert cv2.imread(str(img)).shape == (100, 150, 3)


def test_missing_camera_is_a_user_error(model, tmp_path):
    with pytest.raises(UserError, match="cannot open camera 97"):
        predict(model, ["97"], tmp_path / "out", "color")


def test_predict_cli(model, tmp_path, capsys):
    from fastscnn_edge.cli import main

    img = _image(tmp_path / "in.png", size=RES)
    with pytest.raises(SystemExit) as info:
        main(["predict", str(model), str(img), "--output", str(tmp_path / "o"), "--format", "overlay"])
    out = capsys.readouterr()
    assert info.value.code == 0, out.err
    assert "predicted 1 image(s)" in out.out and (tmp_path / "o" / "in.png").exists()
    with pytest.raises(SystemExit) as info:
        main(["predict", str(model), str(img), "--format", "jpeg"])
    err = capsys.readouterr().err
    assert info.value.code == 2 and err.startswith("error: unknown output format") and len(err.strip().splitlines()) == 1


def test_corrupt_video_on_the_command_line_is_one_line(model, tmp_path):
    import os
    import subprocess
    import sys

    (tmp_path / "bad.mp4").write_bytes(b"\x00" * 64)
    repo = Path(__file__).resolve().parents[2]
    p = subprocess.run([sys.executable, "-m", "fastscnn_edge", "predict", str(model), "bad.mp4"], cwd=tmp_path,
                       capture_output=True, text=True, timeout=120, env={**os.environ, "PYTHONPATH": str(repo)})
    lines = [ln for ln in p.stderr.splitlines() if ln.strip()]
    assert p.returncode == 2 and lines == ["error: cannot open video bad.mp4. Fix: check the file (codec) or the camera index."]
    assert not (tmp_path / "predictions").exists()
