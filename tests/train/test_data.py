"""train_data: the training data pipeline (scale/crop augmentation with ignore padding, colour jitter,
tensors, batches independent of the worker count)."""

import numpy as np
import pytest

from fastscnn_edge.train.data import augment, check_crop, load_split, to_tensor
from fastscnn_edge.train.loop import TrainConfig

SIZE = (64, 128)


def test_augment_pads_a_downscaled_image_with_ignore():
    img = np.full((*SIZE, 3), 100, np.uint8)
    lab = np.zeros(SIZE, np.uint8)
    cfg = TrainConfig(data=None, scale=(0.5, 0.5), color_noise=0, brightness=0)  # type: ignore[arg-type]
    x, y = augment(img, lab, SIZE, np.random.default_rng(0), cfg)
    assert x.shape == (*SIZE, 3) and y.shape == SIZE
    assert (y == 255).mean() == pytest.approx(0.75) and (y == 0).mean() == pytest.approx(0.25)


def test_tensor_is_normalized_rgb_chw():
    import torch

    bgr = np.zeros((*SIZE, 3), np.uint8)
    bgr[..., 2] = 255  # pure red in BGR
    x = to_tensor(bgr)
    assert isinstance(x, torch.Tensor) and tuple(x.shape) == (3, *SIZE) and x.dtype == torch.float32
    assert float(x[0].mean()) > float(x[1].mean())  # red went to channel 0 (RGB) and stands out after normalizing


def test_crop_larger_than_the_images_is_refused_with_the_image(tmp_path):
    from fastscnn_edge.core.errors import UserError
    from fastscnn_edge.data.synth import generate

    root = generate(tmp_path / "scenes", 2, 1, SIZE, seed=0)
    split = load_split(root, "cityscapes", "train", 19, required=True)
    check_crop(split, SIZE)  # the images' own size is fine
    with pytest.raises(UserError, match="crop"):
        check_crop(split, (SIZE[0] * 2, SIZE[1] * 2))
