"""``fastscnn-edge ros2``: the model as a ROS 2 node (rclpy; Humble, Jazzy and later).

Subscribes ``sensor_msgs/Image`` (bgr8, rgb8, mono8) or ``sensor_msgs/CompressedImage`` on the image
topic and publishes, for every frame it segments:

- ``~/labels``: ``mono8`` train IDs (``32SC1`` for models with more than 255 classes);
- ``~/color`` (with ``color``): the palette picture or the overlay, ``rgb8``;
- ``~/camera_info`` (with a camera-info topic): the latest ``CameraInfo`` rescaled to the mask size;

each with the input's header (stamp and frame_id), as NVIDIA's ``isaac_ros_unet`` does. The class
names and the palette are node parameters and are published once on the latched (transient-local)
``~/classes`` topic as ``std_msgs/String`` JSON. The subscription's QoS is sensor data (best effort,
depth 1) unless ``reliable``; it matches any camera driver. The publishers are reliable with the same
depth (keep-last, so a slow subscriber never holds the node up): both reliable subscribers (RViz's
default) and best-effort ones (``ros2 topic hz``) match them. Frames go through the stream runtime
(:mod:`fastscnn_edge.serve.stream`). Best effort: as a live stream, a frame arriving while the previous one
still waits replaces it and is counted as dropped, so the latency cannot grow. Reliable: every frame
the node receives is processed, in order (a FIFO of ``depth`` frames; when it is full the callback
waits, and the middleware's reliable history holds the rest): nothing is dropped by the node, and
latency grows up to that depth when the camera is faster than the model. A frame the node cannot use (16-bit, wrong size) is logged and skipped; the node
keeps running. Ctrl-C / SIGTERM stop it cleanly (the CLI exits 130 / 143).
"""

from __future__ import annotations

import array
import json
import threading
from dataclasses import dataclass
from typing import Any, Callable, Dict, List, Optional

import numpy as np

from fastscnn_edge.core.errors import MissingDependency, UserError
from fastscnn_edge.core.progress import Progress
from fastscnn_edge.runtime.runner import Runner
from fastscnn_edge.serve.stream import OUTPUT_SIZES, Frame, Pipeline, Sink, StreamReport

COLOR_MODES = ("color", "overlay")
RCLPY_FIX = ("pip install 'fastscnn-edge[ros2]' (x86-64: ROS 2 Jazzy's Python wheels), or on a Jetson / a ROS "
             "install: source /opt/ros/<distro>/setup.bash in this shell first")


@dataclass
class NodeOptions:
    """What the node subscribes, publishes and how. ``max_frames`` / ``duration`` (seconds) end the
    node by themselves (benchmarks, tests); otherwise it runs until Ctrl-C or SIGTERM."""

    image_topic: str = "/camera/image_raw"
    compressed: bool = False
    camera_info_topic: Optional[str] = None
    color: Optional[str] = None  # None | color | overlay
    reliable: bool = False  # the subscription's reliability (publishers are always reliable, keep-last)
    depth: int = 1
    output_size: str = "input"
    node_name: str = "fastscnn"
    max_frames: Optional[int] = None
    duration: Optional[float] = None

    def check(self) -> None:
        if self.color is not None and self.color not in COLOR_MODES:
            raise UserError(f"unknown colour output {self.color!r}.", fix=f"use one of: {', '.join(COLOR_MODES)}.")
        if self.output_size not in OUTPUT_SIZES:
            raise UserError(f"unknown mask size {self.output_size!r}.", fix=f"use one of: {', '.join(OUTPUT_SIZES)}.")
        if self.depth < 1:
            raise UserError(f"--depth {self.depth} is below 1.", fix="pass a QoS history depth of 1 or more.")
        if self.max_frames is not None and self.max_frames < 1:
            raise UserError(f"--frames {self.max_frames} is not positive.", fix="pass a frame count >= 1, or leave it out.")
        if self.duration is not None and self.duration <= 0:
            raise UserError(f"--duration {self.duration} is not positive.", fix="pass seconds > 0, or leave it out.")
        if not self.image_topic:
            raise UserError("no image topic given.", fix="pass --image-topic /camera/image_raw (your camera's topic).")


def require_rclpy() -> None:
    """MissingDependency naming what to install where rclpy cannot be imported."""
    try:
        import rclpy  # noqa: F401
        from sensor_msgs.msg import Image  # noqa: F401
    except ImportError as exc:
        raise MissingDependency(f"ROS 2's Python client (rclpy, sensor_msgs) is not importable here ({exc.name}).",
                                fix=RCLPY_FIX + ".") from None


def _init(context: Any) -> None:
    """rclpy.init without rclpy's own SIGINT handler (where the version lets us), so Ctrl-C and
    SIGTERM reach our handler and the node stops through the same path as every command."""
    import rclpy

    try:
        from rclpy.signals import SignalHandlerOptions

        rclpy.init(context=context, signal_handler_options=SignalHandlerOptions.NO)
    except (ImportError, TypeError):  # older rclpy: its handler shuts the context down, which we also handle
        rclpy.init(context=context)


def _to_ros_data(data: np.ndarray) -> "array.array[int]":
    return array.array("B", np.ascontiguousarray(data).tobytes())


def image_message(header: Any, fields: Dict[str, Any]) -> Any:
    """An rclpy ``sensor_msgs/Image`` from :mod:`fastscnn_edge.serve.rosimage` fields."""
    from sensor_msgs.msg import Image

    msg = Image()
    msg.header = header
    msg.height, msg.width = int(fields["height"]), int(fields["width"])
    msg.encoding, msg.is_bigendian, msg.step = fields["encoding"], int(fields["is_bigendian"]), int(fields["step"])
    msg.data = _to_ros_data(fields["data"])
    return msg


def scaled_camera_info(info: Any, header: Any, height: int, width: int) -> Any:
    """``info`` with its intrinsics (K, P) and size rescaled to a ``height`` x ``width`` mask."""
    import copy

    out = copy.deepcopy(info)
    out.header = header
    sx, sy = width / float(info.width or width), height / float(info.height or height)
    k = list(info.k)
    k[0], k[2], k[4], k[5] = k[0] * sx, k[2] * sx, k[4] * sy, k[5] * sy
    p = list(info.p)
    p[0], p[2], p[3], p[5], p[6] = p[0] * sx, p[2] * sx, p[3] * sx, p[5] * sy, p[6] * sy
    out.k, out.p = k, p
    out.width, out.height = width, height
    return out


class PublisherSink(Sink):
    """Publishes each frame's labels (and colour, camera info) with the input's header."""

    def __init__(self, node: Any, runner: Runner, options: NodeOptions, qos: Any,
                 camera_info: Callable[[], Any]) -> None:
        from sensor_msgs.msg import CameraInfo, Image

        self.name = options.image_topic
        self.render = options.color
        self.num_classes = runner.meta.num_classes
        self.labels_pub = node.create_publisher(Image, "~/labels", qos)
        self.color_pub = node.create_publisher(Image, "~/color", qos) if options.color else None
        self.info_pub = node.create_publisher(CameraInfo, "~/camera_info", qos) if options.camera_info_topic else None
        self.camera_info = camera_info
        self.published = 0

    def flush(self, timeout_s: float) -> None:
        """Wait (up to ``timeout_s`` each) until reliable subscribers have acknowledged what was published."""
        from rclpy.duration import Duration

        for pub in (self.labels_pub, self.color_pub, self.info_pub):
            if pub is not None and hasattr(pub, "wait_for_all_acked"):  # rclpy >= Galactic
                pub.wait_for_all_acked(Duration(seconds=timeout_s))

    def write(self, frame: Frame) -> None:
        from fastscnn_edge.serve.rosimage import color_fields, labels_fields

        header = frame.meta["header"]
        assert frame.labels is not None
        self.labels_pub.publish(image_message(header, labels_fields(frame.labels, self.num_classes)))
        if self.color_pub is not None and frame.rendered is not None:
            self.color_pub.publish(image_message(header, color_fields(frame.rendered)))
        info = self.camera_info()
        if self.info_pub is not None and info is not None:
            h, w = frame.labels.shape[:2]
            self.info_pub.publish(scaled_camera_info(info, header, h, w))
        self.published += 1


FLUSH_S = 2.0  # at exit, how long the node waits for reliable subscribers to acknowledge its last masks


def _qos(reliable: bool, depth: int) -> Any:
    from rclpy.qos import DurabilityPolicy, HistoryPolicy, QoSProfile, ReliabilityPolicy

    return QoSProfile(history=HistoryPolicy.KEEP_LAST, depth=depth, durability=DurabilityPolicy.VOLATILE,
                      reliability=ReliabilityPolicy.RELIABLE if reliable else ReliabilityPolicy.BEST_EFFORT)


def class_info(runner: Runner) -> Dict[str, object]:
    """The class names and palette (RGB) that ``~/classes`` publishes."""
    from fastscnn_edge.data.palette import palette_bgr

    names = list(runner.meta.class_names)
    return {"names": names, "palette_rgb": palette_bgr(runner.meta.num_classes)[:, ::-1].tolist(),
            "encoding": "32SC1" if runner.meta.num_classes > 255 else "mono8"}


def run_node(runner: Runner, options: NodeOptions, *, progress: Optional[Progress] = None,
             log: Optional[Callable[[str], None]] = None, ready: Optional[Callable[[], None]] = None) -> StreamReport:
    """Run the node on ``runner`` until ``options`` end it or Ctrl-C/SIGTERM (re-raised once the node
    is down, after the frames in flight are published). Returns the stream report."""
    options.check()
    require_rclpy()
    import rclpy
    from rclpy.executors import SingleThreadedExecutor
    from rclpy.qos import DurabilityPolicy, QoSProfile, ReliabilityPolicy
    from sensor_msgs.msg import CameraInfo, CompressedImage, Image
    from std_msgs.msg import String

    from fastscnn_edge.serve.rosimage import compressed_to_bgr, image_to_bgr

    context = rclpy.Context()
    _init(context)
    node = rclpy.create_node(options.node_name, context=context)
    executor = SingleThreadedExecutor(context=context)
    spin: Optional[threading.Thread] = None
    try:
        info = class_info(runner)
        for name, value in (("image_topic", options.image_topic), ("compressed", options.compressed),
                            ("camera_info_topic", options.camera_info_topic or ""), ("color", options.color or ""),
                            ("reliable", options.reliable), ("qos_depth", options.depth),
                            ("output_size", options.output_size), ("backend", runner.backend),
                            ("device", runner.device), ("threads", int(runner.details.get("threads") or 0)),
                            ("class_names", info["names"]),
                            ("palette_rgb", [int(v) for rgb in info["palette_rgb"] for v in rgb])):  # type: ignore[attr-defined]
            node.declare_parameter(name, value)
        qos = _qos(options.reliable, options.depth)
        latest_info: List[Any] = [None]
        logger = node.get_logger()
        said: Dict[str, int] = {}

        def bad(stream: int, why: str) -> None:  # each distinct problem once, then every 100th time
            n = said[why] = said.get(why, 0) + 1
            if n == 1 or n % 100 == 0:
                logger.warning(f"frame skipped ({n}x): {why}")
            if log is not None and n == 1:
                log(f"frame skipped: {why}")

        sink = PublisherSink(node, runner, options, _qos(True, options.depth), lambda: latest_info[0])
        # best effort: a live stream (the newest frame wins, latency bounded); reliable: every frame that
        # arrives is processed in order, the subscription's callback waiting while `depth` frames queue
        pipe = Pipeline(runner, [None], [sink], output_size=options.output_size, live=[not options.reliable],
                        queue_depth=max(1, options.depth), on_bad_frame=bad)
        decode = compressed_to_bgr if options.compressed else image_to_bgr

        def on_image(msg: Any) -> None:
            if options.max_frames is not None and pipe.streams[0].frames_in >= options.max_frames:
                pipe.end_stream(0)
                return
            try:
                bgr = decode(msg)
            except UserError as exc:
                pipe.bad_frame(0, str(exc))
                return
            pipe.offer(0, bgr, {"header": msg.header})
            if options.max_frames is not None and pipe.streams[0].frames_in >= options.max_frames:
                pipe.end_stream(0)

        node.create_subscription(CompressedImage if options.compressed else Image, options.image_topic, on_image, qos)
        if options.camera_info_topic:
            node.create_subscription(CameraInfo, options.camera_info_topic,
                                     lambda m: latest_info.__setitem__(0, m), qos)
        latched = QoSProfile(depth=1, durability=DurabilityPolicy.TRANSIENT_LOCAL, reliability=ReliabilityPolicy.RELIABLE)
        node.create_publisher(String, "~/classes", latched).publish(String(data=json.dumps(info)))
        executor.add_node(node)
        spin = threading.Thread(target=executor.spin, name="fastscnn-ros2-spin", daemon=True)
        pipe.start()
        spin.start()
        if options.duration is not None:
            timer = threading.Timer(options.duration, pipe.end_stream, args=(0,))
            timer.daemon = True
            timer.start()
        topics = ", ".join(node.resolve_topic_name(t) for t in ["~/labels"] + (["~/color"] if options.color else [])
                           + (["~/camera_info"] if options.camera_info_topic else []) + ["~/classes"])
        if log is not None:
            log(f"node /{options.node_name}: {options.image_topic} ({'CompressedImage' if options.compressed else 'Image'}, "
                f"{'reliable' if options.reliable else 'best effort'}, depth {options.depth}) -> {topics}; "
                f"{runner.description}")
        if ready is not None:
            ready()
        report = pipe.wait(progress, task=options.node_name, drain_on_interrupt=True)
        sink.flush(FLUSH_S)  # the last masks reach reliable subscribers before the node leaves
    finally:
        executor.shutdown(timeout_sec=1.0)
        if spin is not None:
            spin.join(timeout=2.0)
        node.destroy_node()
        if context.ok():
            context.try_shutdown()
    return report
