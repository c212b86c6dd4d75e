"""ROS 2 bags (sqlite3 or MCAP) as a stream source and sink, through ``rosbags`` (pure Python, no ROS).

``BagSource`` reads one ``sensor_msgs/Image`` or ``CompressedImage`` topic in recording order (a file
source: backpressure, nothing dropped); ``BagSink`` writes a new bag, in the input's storage format,
with the labels (``mono8`` train IDs, ``32SC1`` above 255 classes) on ``/fastscnn/labels``, optionally
the colour picture (``rgb8``) on ``/fastscnn/color``, each message at its input's timestamp with its
input's header, and the class names and palette once on ``/fastscnn/classes`` (``std_msgs/String``,
JSON). The output bag is written beside its target and renamed into place only when complete.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from pathlib import Path
from typing import Any, Dict, Iterator, List, Optional, Sequence, Tuple

import numpy as np

from fastscnn_edge.core.errors import MissingDependency, UserError
from fastscnn_edge.serve.stream import Frame, Sink, Source

IMAGE_TYPES = ("sensor_msgs/msg/Image", "sensor_msgs/msg/CompressedImage")
LABELS_TOPIC = "/fastscnn/labels"
COLOR_TOPIC = "/fastscnn/color"
CLASSES_TOPIC = "/fastscnn/classes"
ROSBAGS_FIX = "pip install 'fastscnn-edge[ros2]' (or pip install rosbags)"


def is_bag(path: Path) -> bool:
    """A ROS 2 bag: a folder with ``metadata.yaml``, or a lone ``.mcap``/``.db3`` file."""
    return (path.is_dir() and (path / "metadata.yaml").is_file()) or (path.is_file() and path.suffix in (".mcap", ".db3"))


def _rosbags() -> Tuple[Any, Any, Any]:
    try:
        from rosbags.rosbag2 import Reader, Writer
        from rosbags.typesys import Stores, get_typestore
    except ImportError:
        raise MissingDependency("reading ROS 2 bags needs the rosbags package, which is not installed here.",
                                fix=ROSBAGS_FIX + ".") from None
    return Reader, Writer, get_typestore(Stores.ROS2_HUMBLE)  # Image, Header, String: the same in every ROS 2


def bag_dir(path: Path) -> Path:
    return path if path.is_dir() else path.parent


def image_topics(path: Path) -> Dict[str, str]:
    """Topic -> message type of every image topic in the bag at ``path``."""
    Reader, _, _ = _rosbags()
    with _open_reader(Reader, path) as reader:
        return {c.topic: c.msgtype for c in reader.connections if c.msgtype in IMAGE_TYPES}


def _open_reader(Reader: Any, path: Path) -> Any:
    try:
        reader = Reader(bag_dir(path))
        reader.open()
    except Exception as exc:  # noqa: BLE001 - rosbags raises its own ReaderError types
        raise UserError(f"cannot read the bag {path}: {str(exc).splitlines()[0][:200]}",
                        fix="pass a ROS 2 bag folder (with metadata.yaml) recorded by ros2 bag record.") from None

    class _Ctx:
        def __enter__(self) -> Any:
            return reader

        def __exit__(self, *exc: object) -> None:
            reader.close()
    return _Ctx()


class BagSource(Source):
    """One image topic of a bag, in order. ``meta``: ``timestamp`` (ns, the bag's) and ``header``."""

    live = False

    def __init__(self, path: Path, topic: str, max_frames: Optional[int] = None) -> None:
        self.path, self.topic, self.max_frames = path, topic, max_frames
        self.name = bag_dir(path).name
        self._reader: Any = None
        self._it: Optional[Iterator[Any]] = None
        self.count = 0
        self.storage = "sqlite3"
        self.version = 8

    def open(self) -> None:
        if self._reader is not None:
            return
        Reader, _, self.typestore = _rosbags()
        ctx = _open_reader(Reader, self.path)
        self._ctx = ctx
        reader = ctx.__enter__()
        self._reader = reader
        conns = [c for c in reader.connections if c.topic == self.topic]
        if not conns:
            found = {c.topic: c.msgtype for c in reader.connections if c.msgtype in IMAGE_TYPES}
            reader.close()
            listed = ", ".join(f"{t} ({m.rsplit('/', 1)[-1]})" for t, m in sorted(found.items())) or "none"
            raise UserError(f"the bag {self.path} has no topic {self.topic} (image topics: {listed}).",
                            fix="pass --image-topic with one of the image topics listed.")
        if conns[0].msgtype not in IMAGE_TYPES:
            reader.close()
            raise UserError(f"topic {self.topic} in {self.path} carries {conns[0].msgtype}, not an image.",
                            fix="pass --image-topic with a sensor_msgs/Image or CompressedImage topic.")
        self.msgtype = conns[0].msgtype
        n = sum(c.msgcount for c in conns)
        self.total = min(n, self.max_frames) if self.max_frames else n
        meta = getattr(reader, "metadata", {}) or {}
        self.storage = str(meta.get("storage_identifier", "sqlite3"))
        self.version = 9 if int(meta.get("version", 8) or 8) >= 9 else 8
        self._it = iter(reader.messages(connections=conns))

    def read(self) -> Optional[Tuple[np.ndarray, Dict[str, Any]]]:
        from fastscnn_edge.serve.rosimage import compressed_to_bgr, image_to_bgr

        if self.max_frames is not None and self.count >= self.max_frames:
            return None
        assert self._it is not None
        got = next(self._it, None)
        if got is None:
            return None
        _, timestamp, raw = got
        msg = self.typestore.deserialize_cdr(raw, self.msgtype)
        try:
            bgr = compressed_to_bgr(msg) if self.msgtype.endswith("CompressedImage") else image_to_bgr(msg)
        except UserError as exc:
            raise UserError(f"{self.path} {self.topic}, message {self.count + 1}: {exc.cause}", fix=exc.fix) from None
        self.count += 1
        return bgr, {"timestamp": int(timestamp), "header": msg.header}

    def close(self) -> None:
        if self._reader is not None:
            self._reader.close()
            self._reader = None


class BagSink(Sink):
    """A new bag at ``target`` (a folder) with the label (and optional colour) topic; see the module doc."""

    def __init__(self, target: Path, *, num_classes: int, class_names: Sequence[str], render: Optional[str] = None,
                 storage: str = "sqlite3", version: int = 8) -> None:
        self.target, self.render, self.num_classes = target, render, num_classes
        self.class_names = list(class_names)
        self.storage, self.version = storage, version
        self.name = target.name
        self._writer: Any = None
        self._tmp: Optional[Path] = None
        self.written = 0

    def _open(self) -> None:
        from rosbags.rosbag2 import StoragePlugin

        from fastscnn_edge.core.fileio import ensure_writable_dir

        _, Writer, self.typestore = _rosbags()
        ensure_writable_dir(self.target)
        parent = Path(tempfile.mkdtemp(prefix=f".{self.target.name}.", suffix=".part", dir=self.target.parent))
        self._tmp = parent / self.target.name
        plugin = StoragePlugin.MCAP if self.storage == "mcap" else StoragePlugin.SQLITE3
        self._writer = Writer(self._tmp, version=self.version, storage_plugin=plugin)
        self._writer.open()
        img_t = "sensor_msgs/msg/Image"
        self._labels = self._writer.add_connection(LABELS_TOPIC, img_t, typestore=self.typestore)
        self._color = self._writer.add_connection(COLOR_TOPIC, img_t, typestore=self.typestore) if self.render else None
        self._classes = self._writer.add_connection(CLASSES_TOPIC, "std_msgs/msg/String", typestore=self.typestore)

    def _image(self, header: Any, fields: Dict[str, Any]) -> bytes:
        Image = self.typestore.types["sensor_msgs/msg/Image"]
        return self.typestore.serialize_cdr(Image(header=header, **fields), "sensor_msgs/msg/Image")

    def write(self, frame: Frame) -> None:
        from fastscnn_edge.data.palette import palette_bgr
        from fastscnn_edge.serve.rosimage import color_fields, labels_fields

        if self._writer is None:
            self._open()
            String = self.typestore.types["std_msgs/msg/String"]
            info = {"names": self.class_names, "palette_rgb": palette_bgr(self.num_classes)[:, ::-1].tolist()}
            self._writer.write(self._classes, frame.meta["timestamp"],
                               self.typestore.serialize_cdr(String(data=json.dumps(info)), "std_msgs/msg/String"))
        ts, header = frame.meta["timestamp"], frame.meta["header"]
        assert frame.labels is not None
        self._writer.write(self._labels, ts, self._image(header, labels_fields(frame.labels, self.num_classes)))
        if self._color is not None and frame.rendered is not None:
            self._writer.write(self._color, ts, self._image(header, color_fields(frame.rendered)))
        self.written += 1

    def finish(self) -> List[Path]:
        if self._writer is None:
            return []
        self._writer.close()
        self._writer = None
        assert self._tmp is not None
        old = None
        if self.target.exists():  # replaced only now that the new one is whole
            old = self._tmp.parent / (self.target.name + ".old")
            os.replace(self.target, old)
        os.replace(self._tmp, self.target)
        shutil.rmtree(self._tmp.parent, ignore_errors=True)
        return [self.target]

    def abort(self) -> None:
        if self._writer is not None:
            try:
                self._writer.close()
            except Exception:  # noqa: BLE001 - the bag is discarded either way
                pass
            self._writer = None
        if self._tmp is not None:
            shutil.rmtree(self._tmp.parent, ignore_errors=True)
            self._tmp = None


def read_messages(path: Path, topic: str) -> List[Tuple[int, Any]]:
    """(timestamp ns, message) of every message on ``topic``, in order."""
    Reader, _, typestore = _rosbags()
    with _open_reader(Reader, path) as reader:
        conns = [c for c in reader.connections if c.topic == topic]
        return [(int(ts), typestore.deserialize_cdr(raw, c.msgtype)) for c, ts, raw in reader.messages(connections=conns)]


def read_labels(path: Path, topic: str = LABELS_TOPIC) -> List[Tuple[int, Any, np.ndarray]]:
    """(timestamp ns, header, labels) of every message on a labels topic (tests, checking output)."""
    from fastscnn_edge.serve.rosimage import labels_from_fields

    return [(ts, msg.header, labels_from_fields(msg)) for ts, msg in read_messages(path, topic)]


def write_image_bag(path: Path, topic: str, frames: Sequence[np.ndarray], *, encoding: str = "bgr8",
                    start_ns: int = 1_700_000_000_000_000_000, period_ns: int = 100_000_000,
                    frame_id: str = "camera", storage: str = "sqlite3") -> Path:
    """A bag with ``frames`` (BGR uint8) on ``topic`` as ``encoding`` Images, one every ``period_ns``
    (synthetic data for tests and demos; written whole or not at all)."""
    from rosbags.rosbag2 import StoragePlugin

    import cv2

    _, Writer, typestore = _rosbags()
    Image = typestore.types["sensor_msgs/msg/Image"]
    Header = typestore.types["std_msgs/msg/Header"]
    Time = typestore.types["builtin_interfaces/msg/Time"]
    parent = Path(tempfile.mkdtemp(prefix=f".{path.name}.", suffix=".part", dir=path.parent))
    tmp = parent / path.name
    try:
        with Writer(tmp, version=8, storage_plugin=StoragePlugin.MCAP if storage == "mcap" else StoragePlugin.SQLITE3) as w:
            conn = w.add_connection(topic, "sensor_msgs/msg/Image", typestore=typestore)
            for i, bgr in enumerate(frames):
                ts = start_ns + i * period_ns
                img = {"rgb8": lambda b: cv2.cvtColor(b, cv2.COLOR_BGR2RGB),
                       "mono8": lambda b: cv2.cvtColor(b, cv2.COLOR_BGR2GRAY)}.get(encoding, lambda b: b)(bgr)
                c = 1 if img.ndim == 2 else img.shape[2]
                itemsize = img.dtype.itemsize
                header = Header(stamp=Time(sec=ts // 10**9, nanosec=ts % 10**9), frame_id=frame_id)
                msg = Image(header=header, height=img.shape[0], width=img.shape[1], encoding=encoding, is_bigendian=0,
                            step=img.shape[1] * c * itemsize, data=np.ascontiguousarray(img).view(np.uint8).ravel())
                w.write(conn, ts, typestore.serialize_cdr(msg, "sensor_msgs/msg/Image"))
        os.replace(tmp, path)
    finally:
        shutil.rmtree(parent, ignore_errors=True)
    return path
