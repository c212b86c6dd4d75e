"""Training data: every pair read and checked before training starts, the paper's augmentation, and
the batch plan that makes a resumed run draw the same batches (see :mod:`fastscnn_edge.train.loop`).

torch is imported here: only ``train`` uses this module.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Dict, Iterator, List, Optional, Protocol, Sequence, Tuple

import numpy as np
import torch
from torch import Tensor

from fastscnn_edge.core.errors import UserError
from fastscnn_edge.core.metadata import IMAGENET_MEAN, IMAGENET_STD
from fastscnn_edge.core.progress import Progress, report
from fastscnn_edge.data.datasets import IGNORE, Sample, read_pair, scan_samples



class TrainConfig(Protocol):
    """The fields of a :class:`fastscnn_edge.train.loop.TrainConfig` the data pipeline reads (train calls
    this module, so the type it needs is declared here, below it)."""

    crop: Tuple[int, int]
    augment: bool
    scale: Tuple[float, float]
    brightness: float
    color_noise: float


@dataclass
class DataSplit:
    samples: List[Sample]
    sizes: List[Tuple[int, int]]


def load_split(root: Path, fmt: str, split: str, num_classes: int, *, required: bool,
               progress: Optional[Progress] = None) -> Optional[DataSplit]:
    """Scan a split and read every pair once, so bad data fails before training starts.

    Raises UserError on an image without its mask, a mask of another size, or a label value
    outside the class range (255 excepted). Returns None for an absent optional split.
    """
    try:
        scan = scan_samples(root, fmt, split, require_labels=False)
    except UserError:
        if required:
            raise
        return None
    missing = [s.image for s in scan.samples if s.label is None]
    if missing:
        raise UserError(f"{len(missing)} {split} image(s) have no mask (first: {missing[0]}).",
                        fix="add the missing masks or remove those images; every training image needs its ground truth.")
    sizes = []
    for i, sample in enumerate(scan.samples, 1):
        _, label = read_pair(sample, fmt, num_classes)
        sizes.append(label.shape)
        report(progress, f"checking {split} pairs", i, len(scan.samples))
    return DataSplit(scan.samples, sizes)


def check_crop(split: DataSplit, crop: Tuple[int, int]) -> None:
    for sample, (h, w) in zip(split.samples, split.sizes):
        if crop[0] > h or crop[1] > w:
            smallest = min(split.sizes)
            raise UserError(f"crop {crop[0]}x{crop[1]} is larger than image {sample.image} ({h}x{w}).",
                            fix=f"pass a --crop no larger than the smallest training image ({smallest[0]}x{smallest[1]}).")


def augment(img: np.ndarray, lab: np.ndarray, crop: Tuple[int, int], rng: np.random.Generator,
            cfg: "TrainConfig") -> Tuple[np.ndarray, np.ndarray]:
    """Scale, pad-with-ignore, crop, flip, colour noise, brightness: BGR uint8 -> (crop float32 BGR, crop labels)."""
    import cv2

    if cfg.augment:
        s = rng.uniform(*cfg.scale)
        h, w = lab.shape
        size = (max(1, round(w * s)), max(1, round(h * s)))
        img = cv2.resize(img, size, interpolation=cv2.INTER_LINEAR)
        lab = cv2.resize(lab, size, interpolation=cv2.INTER_NEAREST)
    ch, cw = crop
    ph, pw = max(0, ch - lab.shape[0]), max(0, cw - lab.shape[1])
    if ph or pw:
        img = cv2.copyMakeBorder(img, 0, ph, 0, pw, cv2.BORDER_CONSTANT, value=(0, 0, 0))
        lab = cv2.copyMakeBorder(lab, 0, ph, 0, pw, cv2.BORDER_CONSTANT, value=IGNORE)
    y = int(rng.integers(0, lab.shape[0] - ch + 1))
    x = int(rng.integers(0, lab.shape[1] - cw + 1))
    img, lab = img[y:y + ch, x:x + cw], lab[y:y + ch, x:x + cw]
    out = img.astype(np.float32)
    if cfg.augment:
        if rng.random() < 0.5:
            out, lab = out[:, ::-1], lab[:, ::-1]
        jittered = out * rng.uniform(1 - cfg.brightness, 1 + cfg.brightness) + rng.normal(0, cfg.color_noise, 3)
        out = np.clip(jittered, 0, 255).astype(np.float32)
    return out, np.ascontiguousarray(lab)


def to_tensor(bgr: np.ndarray) -> Tensor:
    """HxWx3 BGR (uint8 or float on 0..255) -> 3xHxW RGB float normalised with ImageNet mean/std."""
    rgb = bgr[:, :, ::-1].astype(np.float32) / 255.0
    x = (rgb - np.asarray(IMAGENET_MEAN, np.float32)) / np.asarray(IMAGENET_STD, np.float32)
    return torch.from_numpy(np.ascontiguousarray(x.transpose(2, 0, 1)))


class AugmentedSet(torch.utils.data.Dataset):
    """Items are (sample index, augmentation seed): the draw depends on the seed alone."""

    def __init__(self, samples: Sequence[Sample], fmt: str, num_classes: int, cfg: "TrainConfig") -> None:
        self.samples, self.fmt, self.num_classes, self.cfg = list(samples), fmt, num_classes, cfg

    def __len__(self) -> int:
        return len(self.samples)

    def __getitem__(self, item: Tuple[int, Tuple[int, ...]]) -> Tuple[Tensor, Tensor]:
        index, seed = item
        img, lab = read_pair(self.samples[index], self.fmt, self.num_classes)
        img, lab = augment(img, lab, self.cfg.crop, np.random.default_rng(list(seed)), self.cfg)
        return to_tensor(img), torch.from_numpy(lab.astype(np.int64))


class BatchPlan(torch.utils.data.Sampler):
    """Batches for iterations ``start..stop-1``: a stream of per-epoch permutations, each seeded
    by (seed, epoch), cut into batches; batch ``k`` is the same whatever iteration a run starts at."""

    def __init__(self, n: int, batch: int, seed: int, start: int, stop: int) -> None:
        self.n, self.batch, self.seed, self.start, self.stop = n, batch, seed, start, stop
        self._perms: Dict[int, np.ndarray] = {}

    def _index(self, position: int) -> int:
        epoch, k = divmod(position, self.n)
        if epoch not in self._perms:
            self._perms = {epoch: np.random.default_rng([self.seed, 1, epoch]).permutation(self.n)}
        return int(self._perms[epoch][k])

    def __iter__(self) -> Iterator[List[Tuple[int, Tuple[int, ...]]]]:
        for it in range(self.start, self.stop):
            yield [(self._index(it * self.batch + j), (self.seed, 2, it, j)) for j in range(self.batch)]

    def __len__(self) -> int:
        return self.stop - self.start
