"""Synthetic street scenes: Cityscapes layout, plausible labels, determinism, folder format."""

import numpy as np
import pytest

from fastscnn_edge.core.errors import UserError
from fastscnn_edge.data import datasets
from fastscnn_edge.data.synth import FOLDER_CLASSES, LABEL_IDS, VOID, generate, scene_paths

SIZE = (64, 128)


@pytest.fixture(scope="module")
def scenes(tmp_path_factory):  # noqa: ANN001, ANN201
    return generate(tmp_path_factory.mktemp("synth"), 6, 2, SIZE, seed=3)


def test_cityscapes_layout_is_what_the_dataset_reader_finds(scenes):  # noqa: ANN001
    train = datasets.find_samples(scenes, "cityscapes", "train")
    val = datasets.find_samples(scenes, "cityscapes", "val")
    assert len(train) == 6 and len(val) == 2
    assert train[0].image.name == "synthtown_000000_000000_leftImg8bit.png"
    assert train[0].label.name == "synthtown_000000_000000_gtFine_labelIds.png"
    image, label = datasets.read_pair(train[0])
    assert image.shape == (*SIZE, 3) and image.dtype == np.uint8 and label.shape == SIZE


def test_labels_are_cityscapes_label_ids_laid_out_like_a_street(scenes):  # noqa: ANN001
    import cv2

    allowed = set(LABEL_IDS.values()) | {VOID}
    seen = set()
    for i in range(6):
        _, lab_path = scene_paths(scenes, "train", i)
        lab = cv2.imread(str(lab_path), cv2.IMREAD_UNCHANGED)
        assert set(np.unique(lab)) <= allowed
        seen |= set(np.unique(lab).tolist())
        assert (lab[0] == LABEL_IDS["sky"]).mean() > 0.2  # sky between the facades on the top row
        bottom_centre = lab[-SIZE[0] // 8:-2, SIZE[1] // 3: 2 * SIZE[1] // 3]
        assert np.isin(bottom_centre, [LABEL_IDS["road"], LABEL_IDS["car"], VOID]).mean() > 0.7
    # every class and some void across six scenes
    assert {LABEL_IDS[k] for k in ("road", "sidewalk", "building", "vegetation", "sky", "person", "car")} <= seen
    assert VOID in seen


def test_same_seed_same_bytes_other_seed_other_scenes(tmp_path, scenes):  # noqa: ANN001
    again = generate(tmp_path / "a", 2, 0, SIZE, seed=3)
    other = generate(tmp_path / "b", 2, 0, SIZE, seed=4)
    for i in range(2):
        first, second, third = (scene_paths(r, "train", i)[0].read_bytes() for r in (scenes, again, other))
        assert first == second
        assert first != third


def test_images_are_textured_and_vary_in_brightness(scenes):  # noqa: ANN001
    import cv2

    means, stds = [], []
    for i in range(6):
        img = cv2.imread(str(scene_paths(scenes, "train", i)[0])).astype(np.float32)
        lab = cv2.imread(str(scene_paths(scenes, "train", i)[1]), cv2.IMREAD_UNCHANGED)
        road = img[lab == LABEL_IDS["road"]]
        stds.append(road.std(axis=0).mean())
        means.append(img.mean())
    assert min(stds) > 3  # noise and texture, not flat fills
    assert max(means) - min(means) > 10


def test_folder_format_has_classes_txt_and_train_ids(tmp_path):  # noqa: ANN001
    root = generate(tmp_path, 2, 1, SIZE, seed=0, format="folder")
    names = datasets.class_names(root, "folder")
    assert names == list(FOLDER_CLASSES) and len(names) == 8
    samples = datasets.find_samples(root, "folder", "train")
    assert len(samples) == 2
    _, label = datasets.read_pair(samples[0], "folder", len(names))
    assert set(np.unique(label)) <= set(range(8)) | {255}
    assert names.index("road") in np.unique(label)


def test_bad_arguments_raise_user_error(tmp_path):  # noqa: ANN001
    with pytest.raises(UserError, match="not supported"):
        generate(tmp_path, 1, 0, SIZE, format="coco")
    with pytest.raises(UserError, match="cannot generate"):
        generate(tmp_path, -1, 0, SIZE)
    assert not any(tmp_path.iterdir())
