"""`eval` and `compare` on a tiny synthetic Cityscapes split with a 64x128 model.

``varied_model`` perturbs a random Fast-SCNN so that it predicts several classes (a freshly
initialised one labels every pixel the same); the predict tests import it.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Dict, Tuple

import cv2
import numpy as np
import pytest
from tests.data.test_datasets import CITY_FRAMES, write_cityscapes, write_folder
from tests.data.test_metrics import official_args

from fastscnn_edge.bench.evaluate import compare, evaluate
from fastscnn_edge.core.errors import UserError
from fastscnn_edge.runtime import ov_runtime

RES = (64, 128)
# what --backend auto runs an fp32 ONNX on here (the documented rule: OpenVINO where installed)
CPU_RUNTIME = "openvino" if ov_runtime.available() else "onnxruntime"


def varied_model(seed: int = 0):  # noqa: ANN201 - FastSCNN
    import torch

    from fastscnn_edge.model.network import build_model

    torch.manual_seed(seed)
    model = build_model("paper", 19).eval()
    with torch.no_grad():
        for mod in model.modules():
            if isinstance(mod, torch.nn.BatchNorm2d):
                mod.running_mean.normal_(0, 0.1)
                mod.running_var.uniform_(0.5, 2.0)
                mod.bias.normal_(0, 0.3)
        for p in model.parameters():
            if p.dim() == 4:
                p.mul_(3)
    return model


def export_varied(path: Path, seed: int = 0, validate: bool = True, **spec: object) -> Path:
    from fastscnn_edge.export.to_onnx import ExportSpec, export_onnx

    return export_onnx(ExportSpec(res=RES, output=path, **spec),  # type: ignore[arg-type]
                       model=varied_model(seed), validate=validate).path


@pytest.fixture(scope="module")
def models(tmp_path_factory) -> Dict[str, Path]:  # noqa: ANN001
    """Two different ONNX models and the native checkpoint of the first."""
    from fastscnn_edge.model import checkpoint

    d = tmp_path_factory.mktemp("models")
    out = {"a": export_varied(d / "a.onnx"), "b": export_varied(d / "b.onnx", seed=1),
           "a_prob_bgr8": export_varied(d / "a_prob.onnx", head="prob", input_format="bgr8",
                                         validate=False)}  # its large activations miss the 1e-4 prob bar
    out["pt"] = checkpoint.save(checkpoint.from_model(varied_model(0), source="test"), d / "a.pt")
    return out


@pytest.fixture()
def data(tmp_path) -> Path:
    write_cityscapes(tmp_path / "cs")
    return tmp_path / "cs"


def _quiet(**kw: object) -> Dict[str, object]:
    return {"progress": None, **kw}


def test_eval_equals_the_official_evaluation_of_the_same_predictions(models, data, tmp_path, monkeypatch):
    from fastscnn_edge.serve.predict import predict

    result = evaluate(models["a"], data, **_quiet())  # type: ignore[arg-type]
    assert result["images"] == 3 and result["backend"] == CPU_RUNTIME and result["precision"] == "fp32"
    assert result["resolution"] == list(RES)
    scored = [v for v in result["class_iou"].values() if v is not None]  # type: ignore[union-attr]
    assert sum(v > 0 for v in scored) >= 3  # the model really predicts several classes

    predict(models["a"], [str(data / "leftImg8bit" / "val")], tmp_path / "results", "cityscapes-labelids")
    ev, args = official_args(monkeypatch, tmp_path / "results")
    gts = sorted(str(p) for p in (data / "gtFine" / "val").glob("*/*_gtFine_labelIds.png"))
    ref = ev.evaluateImgLists([ev.getPrediction(args, g) for g in gts], gts, args)

    assert result["miou"] == pytest.approx(ref["averageScoreClasses"], abs=1e-9)
    assert result["category_miou"] == pytest.approx(ref["averageScoreCategories"], abs=1e-9)
    for name, v in result["class_iou"].items():  # type: ignore[union-attr]
        assert (v is None) == np.isnan(ref["classScores"][name]), name
        if v is not None:
            assert v == pytest.approx(ref["classScores"][name], abs=1e-9), name
    for name, v in result["category_iou"].items():  # type: ignore[union-attr]
        assert v == pytest.approx(ref["categoryScores"][name], abs=1e-9), name


def test_missing_ground_truth_and_corrupt_image_are_counted_skips(models, data):
    name = CITY_FRAMES[1][1]
    (data / "gtFine" / "val" / "aachen" / f"{name}_gtFine_labelIds.png").unlink()
    (data / "leftImg8bit" / "val" / "bochum" / f"{CITY_FRAMES[2][1]}_leftImg8bit.png").write_bytes(b"not a png")
    warnings = []
    result = evaluate(models["a"], data, warn=warnings.append, **_quiet())  # type: ignore[arg-type]
    assert result["images"] == 1
    assert result["skipped"]["no_ground_truth"] == 1 and result["skipped"]["unreadable"] == 1  # type: ignore[index]
    assert len(warnings) == 2 and any("without ground truth" in w for w in warnings)
    assert result["pixels"] > 0


def test_label_of_the_wrong_size_names_the_file(models, data):
    label = data / "gtFine" / "val" / "bochum" / f"{CITY_FRAMES[2][1]}_gtFine_labelIds.png"
    cv2.imwrite(str(label), np.full((32, 64), 7, np.uint8))
    with pytest.raises(UserError, match=label.name):
        evaluate(models["a"], data, **_quiet())  # type: ignore[arg-type]


def test_empty_dataset_is_a_user_error(models, tmp_path):
    (tmp_path / "leftImg8bit" / "val").mkdir(parents=True)
    with pytest.raises(UserError, match="no \\*_leftImg8bit.png"):
        evaluate(models["a"], tmp_path, **_quiet())  # type: ignore[arg-type]


def test_limit_and_bad_limit(models, data):
    assert evaluate(models["a"], data, limit=2, **_quiet())["images"] == 2  # type: ignore[arg-type]
    with pytest.raises(UserError, match="not positive"):
        evaluate(models["a"], data, limit=0, **_quiet())  # type: ignore[arg-type]


def test_class_count_mismatch_is_a_user_error(models, tmp_path):
    write_folder(tmp_path, classes=("a", "b", "c"))
    with pytest.raises(UserError, match="19 classes but the dataset has 3"):
        evaluate(models["a"], tmp_path, "folder", **_quiet())  # type: ignore[arg-type]


def test_folder_format_with_cityscapes_classes(models, tmp_path):
    from fastscnn_edge.data.datasets import CITYSCAPES_CLASS_NAMES

    write_folder(tmp_path, classes=CITYSCAPES_CLASS_NAMES, n=2)
    result = evaluate(models["a"], tmp_path, "folder", **_quiet())  # type: ignore[arg-type]
    assert result["images"] == 2 and "category_miou" in result and 0 <= result["miou"] <= 1  # type: ignore[operator]


def test_checkpoint_and_its_onnx_agree(models, data):
    result = compare(models["a"], models["pt"], data, res=RES, **_quiet())  # type: ignore[arg-type]
    assert result["a"]["backend"] == CPU_RUNTIME and result["b"]["backend"] == "torch"  # type: ignore[index]
    assert result["pixel_agreement"] >= 0.999  # type: ignore[operator]
    assert abs(result["miou_difference"]) < 0.01  # type: ignore[arg-type]


def test_head_and_input_format_do_not_change_the_score(models, data):
    cls = evaluate(models["a"], data, **_quiet())  # type: ignore[arg-type]
    prob = evaluate(models["a_prob_bgr8"], data, **_quiet())  # type: ignore[arg-type]
    assert prob["head"] == "prob" and prob["input_format"] == "bgr8"
    assert prob["miou"] == pytest.approx(cls["miou"], abs=2e-3)  # argmax ties may flip a few pixels


def test_compare_two_models_breakdown_adds_up(models, data):
    result = compare(models["a"], models["b"], data, **_quiet())  # type: ignore[arg-type]
    agree = result["pixel_agreement"]
    assert 0 < agree < 1  # type: ignore[operator]
    rows = result["disagreement"]
    assert sum(r["differ"] for r in rows) == pytest.approx((1 - agree) * result["pixels"])  # type: ignore[operator, union-attr]
    assert result["frames_with_ground_truth"] == 3
    assert result["miou_difference"] == pytest.approx(result["miou_b"] - result["miou_a"])  # type: ignore[operator]
    worst = rows[0]  # type: ignore[index]
    assert worst["differ"] == 0 or worst["mostly_as"] != worst["class"]


def test_compare_on_random_frames(models):
    same = compare(models["a"], models["a"], random=2, **_quiet())  # type: ignore[arg-type]
    assert same["pixel_agreement"] == 1.0 and same["frames"] == 2 and "miou_a" not in same
    assert same["pixels"] == 2 * RES[0] * RES[1]
    with pytest.raises(UserError, match="either a dataset or random"):
        compare(models["a"], models["b"], **_quiet())  # type: ignore[arg-type]


def _cli(capsys, *args: str) -> Tuple[int, str, str]:  # noqa: ANN001
    from fastscnn_edge.cli import main

    with pytest.raises(SystemExit) as info:
        main(list(args))
    out = capsys.readouterr()
    return int(info.value.code or 0), out.out, out.err


def test_eval_cli_writes_json_with_everything(models, data, tmp_path, capsys):
    js = tmp_path / "eval.json"
    code, out, err = _cli(capsys, "eval", str(models["a"]), "--data", str(data), "--json", str(js))
    assert code == 0, err
    assert "mIoU" in out and "evaluated 3 images" in out and "road" in out
    doc = json.loads(js.read_text())
    for key in ("miou", "class_iou", "category_iou", "category_miou", "pixel_accuracy", "artifact", "backend",
                "precision", "images", "skipped", "confusion_matrix", "images_per_s"):
        assert key in doc, key
    assert len(doc["class_iou"]) == 19 and len(doc["category_iou"]) == 7


@pytest.mark.parametrize("args, needle", [
    (["--data", "nowhere"], "does not exist"),
    (["--data", ".", "--data-format", "coco"], "unknown dataset format"),
    (["--data", ".", "--res", "100x100"], "not a multiple of 32"),
])
def test_eval_cli_bad_input_is_one_line(models, capsys, args, needle):
    code, _, err = _cli(capsys, "eval", str(models["a"]), *args)
    lines = [ln for ln in err.splitlines() if ln.strip()]
    assert code == 2 and len(lines) == 1 and lines[0].startswith("error: ") and needle in lines[0], err


def test_compare_cli(models, data, capsys, tmp_path):
    js = tmp_path / "c.json"
    code, out, err = _cli(capsys, "compare", str(models["a"]), str(models["b"]), "--data", str(data), "--json", str(js))
    assert code == 0, err
    assert "pixel agreement" in out and "mIoU B - A" in out
    assert json.loads(js.read_text())["frames"] == 3
