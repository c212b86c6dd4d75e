"""Procedural street-like scenes in the Cityscapes layout, for tests and the demo model.

Each scene has a horizon and a vanishing point; sky above, buildings with perspective on both
sides, a road trapezoid with dashed lane marks, sidewalks, trees, poles, cars and people, drawn as
textured, noisy, overlapping shapes (far objects first, so near ones occlude them), then colour
channel noise and a brightness change over the whole frame. The label map carries Cityscapes
*label IDs* (road 7, sidewalk 8, building 11, pole 17, vegetation 21, sky 23, person 24, car 26),
with void (0) at the bottom rows of some frames (the rectification border) and in small clutter
blobs, so that the ignore path of training and evaluation is exercised.

Output (``format="cityscapes"``)::

    ROOT/leftImg8bit/<split>/<city>/<city>_000000_0000NN_leftImg8bit.png
    ROOT/gtFine/<split>/<city>/<city>_000000_0000NN_gtFine_labelIds.png

or (``format="folder"``, the 8 drawn classes as 0..7 in :data:`FOLDER_CLASSES` order, void 255)::

    ROOT/<split>/images/<city>_000000_0000NN.png, ROOT/<split>/masks/<same>.png, ROOT/classes.txt

Deterministic: the same ``seed`` gives the same files, byte for byte. torch-free (numpy + OpenCV).

    python -m fastscnn_edge.data.synth ROOT [--train 300] [--val 50] [--size 256x512] [--seed 0]
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Dict, List, Sequence, Tuple

import numpy as np

from fastscnn_edge.core.errors import UserError

# Cityscapes label IDs of the classes drawn here (labelIds, not train IDs).
VOID, ROAD, SIDEWALK, BUILDING, POLE, VEGETATION, SKY, PERSON, CAR = 0, 7, 8, 11, 17, 21, 23, 24, 26
LABEL_IDS: Dict[str, int] = {"road": ROAD, "sidewalk": SIDEWALK, "building": BUILDING, "pole": POLE,
                             "vegetation": VEGETATION, "sky": SKY, "person": PERSON, "car": CAR}
CITIES = {"train": "synthtown", "val": "synthville"}
_SPLIT_STREAM = {"train": 0, "val": 1}  # one random stream per split
FORMATS = ("cityscapes", "folder")
# The folder format stores class indices into this list (classes.txt), 255 for void.
FOLDER_CLASSES: Tuple[str, ...] = tuple(LABEL_IDS)

Size = Tuple[int, int]


class _Canvas:
    """An image (float RGB 0..255) and its label map, painted together so they always agree."""

    def __init__(self, size: Size, rng: np.random.Generator) -> None:
        h, w = size
        self.h, self.w = h, w
        self.rng = rng
        self.img = np.zeros((h, w, 3), np.float32)
        self.lab = np.zeros((h, w), np.uint8)
        # Two shared texture fields: fine grain and blotchy low frequency (a smoothed noise).
        self.grain = rng.standard_normal((h, w)).astype(np.float32)
        self.blotch = _smooth_noise(rng, size, scale=8)

    def paint(self, mask: np.ndarray, rgb: Sequence[float], label: int, *, grain: float = 8.0,
              blotch: float = 18.0) -> None:
        """Fill ``mask`` with a textured colour and ``label``."""
        if not mask.any():
            return
        tex = grain * self.grain[mask] + blotch * self.blotch[mask]
        self.img[mask] = np.asarray(rgb, np.float32)[None, :] + tex[:, None]
        self.lab[mask] = label

    def poly(self, points: Sequence[Tuple[float, float]]) -> np.ndarray:
        import cv2

        m = np.zeros((self.h, self.w), np.uint8)
        cv2.fillPoly(m, [np.round(np.asarray(points, np.float64)).astype(np.int32)], 1)
        return m.astype(bool)

    def ellipse(self, cx: float, cy: float, rx: float, ry: float) -> np.ndarray:
        import cv2

        m = np.zeros((self.h, self.w), np.uint8)
        cv2.ellipse(m, (int(round(cx)), int(round(cy))), (max(1, int(round(rx))), max(1, int(round(ry)))),
                    0, 0, 360, 1, -1)
        return m.astype(bool)

    def rect(self, x0: float, y0: float, x1: float, y1: float) -> np.ndarray:
        return self.poly([(x0, y0), (x1, y0), (x1, y1), (x0, y1)])


def _smooth_noise(rng: np.random.Generator, size: Size, scale: int) -> np.ndarray:
    import cv2

    h, w = size
    small = rng.standard_normal((max(2, h // scale), max(2, w // scale))).astype(np.float32)
    return cv2.resize(small, (w, h), interpolation=cv2.INTER_CUBIC)


def _jitter(rng: np.random.Generator, rgb: Sequence[float], amount: float) -> List[float]:
    return [float(np.clip(c + rng.uniform(-amount, amount), 0, 255)) for c in rgb]


def render_scene(size: Size, rng: np.random.Generator) -> Tuple[np.ndarray, np.ndarray]:
    """One scene: (HxWx3 uint8 BGR image, HxW uint8 Cityscapes label IDs)."""
    c = _Canvas(size, rng)
    h, w = size
    horizon = h * rng.uniform(0.33, 0.48)
    vx = w * rng.uniform(0.38, 0.62)
    _sky(c, horizon)
    road_l, road_r = w * rng.uniform(-0.15, 0.2), w * rng.uniform(0.8, 1.15)  # road edges at the bottom
    walk = w * rng.uniform(0.12, 0.3)  # sidewalk width at the bottom
    _buildings(c, horizon, vx)
    _ground(c, horizon, vx, road_l, road_r, walk)
    objects = _objects(c, horizon, vx, road_l, road_r, walk)
    for _, draw in sorted(objects, key=lambda o: o[0]):  # far (small y) first: near ones occlude
        draw()
    _void(c)
    return _finish(c), c.lab


def _sky(c: _Canvas, horizon: float) -> None:
    top, bottom = _jitter(c.rng, (70, 130, 215), 30), _jitter(c.rng, (180, 205, 235), 20)
    t = np.linspace(0, 1, c.h, dtype=np.float32)[:, None, None]
    grad = (1 - t) * np.asarray(top, np.float32) + t * np.asarray(bottom, np.float32)
    c.img[:] = np.broadcast_to(grad, c.img.shape) + 10 * c.blotch[..., None]
    c.lab[:] = SKY


def _buildings(c: _Canvas, horizon: float, vx: float) -> None:
    """Facades on both sides, their top edges rising away from the vanishing point; the ground drawn
    next covers their feet."""
    rng, h, w = c.rng, c.h, c.w
    for side in (-1, 1):
        x = vx + side * w * rng.uniform(0.02, 0.06)
        edge = -0.05 * w if side < 0 else 1.05 * w
        while (x > edge) if side < 0 else (x < edge):
            step = w * rng.uniform(0.08, 0.25)
            x_far, x_near = x, x + side * step
            top_far = horizon - h * rng.uniform(0.05, 0.2)
            top_near = top_far - (horizon - top_far) * abs(x_near - vx) / max(abs(x_far - vx), 1.0) * 0.25
            colour = _jitter(rng, rng.choice([(150, 140, 130), (170, 120, 100), (120, 120, 130), (200, 190, 170)]), 25)
            quad = [(x_far, top_far), (x_near, top_near - h * rng.uniform(0.0, 0.25)), (x_near, h), (x_far, h)]
            c.paint(c.poly(quad), colour, BUILDING, grain=6, blotch=10)
            _windows(c, x_far, x_near, top_far, horizon, colour)
            x = x_near


def _windows(c: _Canvas, x0: float, x1: float, top: float, bottom: float, colour: Sequence[float]) -> None:
    """Darker window rectangles: still 'building', but they make the class textured, not flat."""
    rng = c.rng
    lo, hi = min(x0, x1), max(x0, x1)
    if hi - lo < 8 or bottom - top < 8:
        return
    dark = [v * 0.45 for v in colour]
    for _ in range(int(rng.integers(2, 7))):
        wx, wy = rng.uniform(lo, hi), rng.uniform(top, bottom)
        ww, wh = (hi - lo) * rng.uniform(0.08, 0.18), (bottom - top) * rng.uniform(0.06, 0.14)
        c.paint(c.rect(wx, wy, wx + ww, wy + wh), dark, BUILDING, grain=4, blotch=6)


def _ground(c: _Canvas, horizon: float, vx: float, road_l: float, road_r: float, walk: float) -> None:
    h, w, rng = c.h, c.w, c.rng
    hz = horizon + 1
    c.paint(c.poly([(vx - 2, hz), (vx + 2, hz), (road_r + walk, h), (road_l - walk, h)]),
            _jitter(rng, (175, 160, 150), 25), SIDEWALK, grain=10, blotch=12)
    c.paint(c.poly([(vx - 1, hz), (vx + 1, hz), (road_r, h), (road_l, h)]),
            _jitter(rng, (95, 95, 100), 20), ROAD, grain=7, blotch=8)
    # Dashed centre line: segments of the line vanishing point -> bottom centre, widening with depth.
    mid = (road_l + road_r) / 2
    white = _jitter(rng, (230, 230, 220), 15)
    n = int(rng.integers(4, 8))
    for k in range(n):
        t0, t1 = (k + 0.2) / n, (k + 0.6) / n
        t0, t1 = t0 ** 1.6, t1 ** 1.6  # perspective: dashes shorten toward the horizon
        y0, y1 = hz + t0 * (h - hz), hz + t1 * (h - hz)
        x0, x1 = vx + t0 * (mid - vx), vx + t1 * (mid - vx)
        hw0, hw1 = 0.5 + t0 * w * 0.008, 0.5 + t1 * w * 0.008
        c.paint(c.poly([(x0 - hw0, y0), (x0 + hw0, y0), (x1 + hw1, y1), (x1 - hw1, y1)]), white, ROAD,
                grain=5, blotch=4)


def _along(vx: float, horizon: float, bottom_x: float, t: float, h: int) -> Tuple[float, float]:
    """The point at depth ``t`` (0 = horizon, 1 = bottom row) on the line vanishing point -> bottom_x."""
    return vx + t * (bottom_x - vx), horizon + t * (h - horizon)


def _objects(c: _Canvas, horizon: float, vx: float, road_l: float, road_r: float, walk: float):
    """(depth y, draw function) for every tree, pole, car and person, to be drawn far to near."""
    rng, h, w = c.rng, c.h, c.w
    out = []
    for _ in range(int(rng.integers(1, 5))):  # trees on the outer sidewalk edges
        t = rng.uniform(0.15, 0.8)
        bx = road_l - walk * 0.8 if rng.random() < 0.5 else road_r + walk * 0.8
        x, y = _along(vx, horizon, bx, t, h)
        out.append((y, lambda x=x, y=y, s=t: _tree(c, x, y, s)))
    for _ in range(int(rng.integers(0, 3))):  # poles
        t = rng.uniform(0.2, 0.9)
        bx = road_l - walk * 0.3 if rng.random() < 0.5 else road_r + walk * 0.3
        x, y = _along(vx, horizon, bx, t, h)
        out.append((y, lambda x=x, y=y, s=t: _pole(c, x, y, s)))
    for _ in range(int(rng.integers(1, 5))):  # cars on the road, overlapping each other
        t = rng.uniform(0.2, 0.95)
        bx = rng.uniform(road_l + 0.1 * (road_r - road_l), road_r - 0.1 * (road_r - road_l))
        x, y = _along(vx, horizon, bx, t, h)
        out.append((y, lambda x=x, y=y, s=t: _car(c, x, y, s)))
    for _ in range(int(rng.integers(1, 6))):  # people on the sidewalks, some stepping onto the road
        t = rng.uniform(0.2, 0.95)
        bx = (road_l - walk * rng.uniform(0.1, 0.9)) if rng.random() < 0.5 else (road_r + walk * rng.uniform(0.1, 0.9))
        x, y = _along(vx, horizon, bx, t, h)
        out.append((y, lambda x=x, y=y, s=t: _person(c, x, y, s)))
    return out


def _tree(c: _Canvas, x: float, y: float, s: float) -> None:
    green = _jitter(c.rng, (60, 120, 50), 30)
    trunk_h, crown = c.h * 0.25 * s, c.h * 0.22 * s
    c.paint(c.rect(x - crown * 0.08, y - trunk_h, x + crown * 0.08, y), _jitter(c.rng, (90, 70, 50), 15), VEGETATION)
    for _ in range(3):  # a crown of overlapping blobs
        cx, cy = x + c.rng.uniform(-0.4, 0.4) * crown, y - trunk_h - c.rng.uniform(0.1, 0.6) * crown
        c.paint(c.ellipse(cx, cy, crown * c.rng.uniform(0.5, 0.8), crown * c.rng.uniform(0.4, 0.7)), green,
                VEGETATION, grain=14, blotch=20)


def _pole(c: _Canvas, x: float, y: float, s: float) -> None:
    hw, ph = max(1.0, c.w * 0.006 * s), c.h * 0.6 * s
    c.paint(c.rect(x - hw, y - ph, x + hw, y), _jitter(c.rng, (110, 110, 110), 30), POLE, grain=4, blotch=4)


def _car(c: _Canvas, x: float, y: float, s: float) -> None:
    rng = c.rng
    cw, ch = c.w * 0.2 * s * rng.uniform(0.8, 1.2), c.h * 0.14 * s * rng.uniform(0.8, 1.2)
    body = _jitter(rng, rng.choice([(180, 30, 30), (30, 60, 160), (200, 200, 200), (30, 30, 30), (220, 180, 40)]), 30)
    c.paint(c.rect(x - cw / 2, y - ch * 0.6, x + cw / 2, y), body, CAR, grain=6, blotch=8)
    c.paint(c.poly([(x - cw * 0.35, y - ch * 0.6), (x - cw * 0.25, y - ch), (x + cw * 0.25, y - ch),
                    (x + cw * 0.35, y - ch * 0.6)]), body, CAR, grain=6, blotch=8)
    c.paint(c.rect(x - cw * 0.22, y - ch * 0.92, x + cw * 0.22, y - ch * 0.65), (60, 70, 80), CAR, grain=4, blotch=4)
    for wx in (x - cw * 0.3, x + cw * 0.3):
        c.paint(c.ellipse(wx, y, cw * 0.1, ch * 0.12), (20, 20, 20), CAR, grain=3, blotch=2)


def _person(c: _Canvas, x: float, y: float, s: float) -> None:
    rng = c.rng
    ph = c.h * 0.3 * s * rng.uniform(0.85, 1.15)
    coat = _jitter(rng, rng.choice([(40, 40, 90), (120, 40, 40), (60, 60, 60), (200, 160, 60)]), 30)
    c.paint(c.rect(x - ph * 0.09, y - ph * 0.45, x - ph * 0.01, y), (40, 40, 50), PERSON, grain=4, blotch=4)
    c.paint(c.rect(x + ph * 0.01, y - ph * 0.45, x + ph * 0.09, y), (40, 40, 50), PERSON, grain=4, blotch=4)
    c.paint(c.ellipse(x, y - ph * 0.62, ph * 0.13, ph * 0.2), coat, PERSON, grain=6, blotch=8)
    c.paint(c.ellipse(x, y - ph * 0.9, ph * 0.07, ph * 0.08), _jitter(rng, (220, 180, 150), 25), PERSON,
            grain=3, blotch=3)


def _void(c: _Canvas) -> None:
    """Void pixels: a dark bottom border on some frames, and a few clutter blobs."""
    rng = c.rng
    if rng.random() < 0.5:
        c.paint(c.rect(0, c.h * rng.uniform(0.93, 0.98), c.w, c.h), (10, 10, 10), VOID, grain=2, blotch=2)
    for _ in range(int(rng.integers(0, 3))):
        x, y = rng.uniform(0, c.w), rng.uniform(c.h * 0.3, c.h)
        c.paint(c.ellipse(x, y, c.w * rng.uniform(0.005, 0.02), c.h * rng.uniform(0.005, 0.03)),
                _jitter(rng, (128, 100, 80), 60), VOID)


def _finish(c: _Canvas) -> np.ndarray:
    """Whole-frame photometric variation: brightness, per-channel gain, sensor noise -> BGR uint8."""
    rng = c.rng
    img = c.img * rng.uniform(0.6, 1.3) * rng.uniform(0.9, 1.1, size=3)[None, None, :]
    img = img + rng.normal(0.0, rng.uniform(2, 8), size=img.shape)
    return np.ascontiguousarray(np.clip(img, 0, 255).astype(np.uint8)[:, :, ::-1])


def scene_paths(root: Path, split: str, index: int, format: str = "cityscapes") -> Tuple[Path, Path]:
    """Where scene ``index`` of ``split`` goes: (image, label)."""
    city = CITIES[split]
    stem = f"{city}_000000_{index:06d}"
    if format == "folder":
        return root / split / "images" / f"{stem}.png", root / split / "masks" / f"{stem}.png"
    return (root / "leftImg8bit" / split / city / f"{stem}_leftImg8bit.png",
            root / "gtFine" / split / city / f"{stem}_gtFine_labelIds.png")


def _folder_lut() -> np.ndarray:
    lut = np.full(256, 255, np.uint8)
    for index, label_id in enumerate(LABEL_IDS.values()):
        lut[label_id] = index
    return lut


def generate(root: str | Path, n_train: int, n_val: int, size: Size = (256, 512), seed: int = 0,
             format: str = "cityscapes") -> Path:
    """Write ``n_train`` + ``n_val`` scenes of ``size`` (H, W) under ``root``; return ``root``.

    Scene ``i`` of a split depends only on (seed, split, i), so a larger set extends a smaller one.
    """
    import cv2

    from fastscnn_edge.core.fileio import atomic_path, atomic_write_text

    if format not in FORMATS:
        raise UserError(f"synthetic format {format!r} is not supported.", fix=f"use one of: {', '.join(FORMATS)}.")
    h, w = size
    if h < 32 or w < 32 or n_train < 0 or n_val < 0:
        raise UserError(f"cannot generate {n_train}+{n_val} scenes of {h}x{w}.",
                        fix="use non-negative counts and a size of at least 32x32.")
    root = Path(root)
    if format == "folder":
        atomic_write_text(root / "classes.txt", "\n".join(FOLDER_CLASSES) + "\n")
    for split, n in (("train", n_train), ("val", n_val)):
        for i in range(n):
            rng = np.random.default_rng([seed, _SPLIT_STREAM[split], i])
            bgr, lab = render_scene((h, w), rng)
            if format == "folder":
                lab = _folder_lut()[lab]
            img_path, lab_path = scene_paths(root, split, i, format)
            for path, arr in ((img_path, bgr), (lab_path, lab)):
                with atomic_path(path) as tmp:
                    ok, buf = cv2.imencode(".png", arr)
                    if not ok:
                        raise UserError(f"could not encode {path.name}.", fix="check OpenCV's PNG support.")
                    tmp.write_bytes(buf.tobytes())
    return root


def main(argv: Sequence[str] | None = None) -> None:
    from fastscnn_edge.core.resolution import parse_resolution

    ap = argparse.ArgumentParser(prog="python -m fastscnn_edge.data.synth", description="Write synthetic street scenes.")
    ap.add_argument("root", type=Path)
    ap.add_argument("--train", type=int, default=300)
    ap.add_argument("--val", type=int, default=50)
    ap.add_argument("--size", default="256x512", help="HxW, multiples of 32")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--format", choices=FORMATS, default="cityscapes")
    args = ap.parse_args(argv)
    root = generate(args.root, args.train, args.val, parse_resolution(args.size), args.seed, args.format)
    print(f"wrote {args.train} train + {args.val} val scenes to {root}")


if __name__ == "__main__":
    main()


def outlier_channels(model, k: float, channel: int = 0):  # noqa: ANN001, ANN201 - FastSCNN -> FastSCNN
    """A model that is hard to quantize and computes the same function (issue 21's fixture).

    In every inverted bottleneck, one channel of the BatchNorm that feeds the expansion's ReLU is
    scaled by ``k`` (weight and bias) and that channel of the following depthwise kernel divided by
    ``k``: ReLU(k x) = k ReLU(x) and the depthwise conv is per channel, so the fp32 network is
    unchanged (to float rounding), but the depthwise conv's input now has one channel with a k-times
    range, which a per-tensor activation scale shares with all the others. Edits ``model`` in place
    (eval mode, k > 0) and returns it. Needs torch.
    """
    import torch

    from fastscnn_edge.model.network import Bottleneck

    if not k > 0:
        raise ValueError("k must be positive (ReLU(kx) = k ReLU(x) needs k > 0)")
    with torch.no_grad():
        for block in model.modules():
            if isinstance(block, Bottleneck):
                bn = block.conv_pw[1]
                bn.weight[channel] *= k
                bn.bias[channel] *= k
                block.conv_dw[0].weight[channel] /= k
    return model
