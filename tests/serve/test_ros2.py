"""The ROS 2 node, for real: `fastscnn-edge ros2` in a child process, a test publisher and subscriber
in this one, DDS over loopback only (ROS_AUTOMATIC_DISCOVERY_RANGE=LOCALHOST) on a domain of the
test's own. Labels equal the local runner's, headers survive, a fast publisher gives counted drops,
bad frames are skipped, and SIGINT/SIGTERM exit 130/143.

rclpy comes from ROS 2 Jazzy's Python wheels (``scripts/setup.sh dev``); under
``FASTSCNN_EDGE_REQUIRE_ROS2=1`` (``scripts/test.sh`` on x86-64) their absence fails instead of skipping.
"""

from __future__ import annotations

import array
import json
import os
import random
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any, Dict, List

import numpy as np
import pytest
from tests.test_hostile import sigint_from_a_terminal
from tests.serve.test_stream import _frames, model, runner  # noqa: F401 - fixtures

from fastscnn_edge.bench.evaluate import predict_labels

if os.environ.get("FASTSCNN_EDGE_REQUIRE_ROS2", "") in ("", "0"):
    pytest.importorskip("rclpy", reason="needs ROS 2's rclpy (scripts/setup.sh dev installs the Jazzy wheels on x86-64)")

import rclpy  # noqa: E402
from rclpy.executors import SingleThreadedExecutor  # noqa: E402
from rclpy.qos import DurabilityPolicy, QoSProfile, ReliabilityPolicy  # noqa: E402
from sensor_msgs.msg import CameraInfo, Image  # noqa: E402
from std_msgs.msg import String  # noqa: E402

from fastscnn_edge.serve.rosimage import labels_from_fields  # noqa: E402


@pytest.fixture()
def ros_env(monkeypatch) -> Dict[str, str]:  # noqa: ANN001
    """Loopback-only discovery on a domain of this test's own, for us and the node we start."""
    monkeypatch.setenv("ROS_AUTOMATIC_DISCOVERY_RANGE", "LOCALHOST")
    monkeypatch.setenv("ROS_DOMAIN_ID", str(random.randint(1, 100)))
    monkeypatch.delenv("ROS_STATIC_PEERS", raising=False)
    return dict(os.environ)


class Peer:
    """The test's side: a publisher of frames and subscribers of the node's outputs."""

    def __init__(self, reliable: bool = True) -> None:
        self.ctx = rclpy.Context()
        rclpy.init(context=self.ctx)
        self.node = rclpy.create_node(f"peer_{os.getpid()}", context=self.ctx)
        qos = QoSProfile(depth=100, reliability=ReliabilityPolicy.RELIABLE if reliable else ReliabilityPolicy.BEST_EFFORT)
        self.labels: List[Any] = []
        self.color: List[Any] = []
        self.info: List[Any] = []
        self.classes: List[str] = []
        self.pub = self.node.create_publisher(Image, "/cam/image", qos)
        self.info_pub = self.node.create_publisher(CameraInfo, "/cam/camera_info", qos)
        self.node.create_subscription(Image, "/fastscnn/labels", self.labels.append, qos)
        self.node.create_subscription(Image, "/fastscnn/color", self.color.append, qos)
        self.node.create_subscription(CameraInfo, "/fastscnn/camera_info", self.info.append, qos)
        latched = QoSProfile(depth=1, durability=DurabilityPolicy.TRANSIENT_LOCAL, reliability=ReliabilityPolicy.RELIABLE)
        self.node.create_subscription(String, "/fastscnn/classes", lambda m: self.classes.append(m.data), latched)
        self.ex = SingleThreadedExecutor(context=self.ctx)
        self.ex.add_node(self.node)
        self.thread = threading.Thread(target=self.ex.spin, daemon=True)
        self.thread.start()

    def wait_for_node(self, timeout: float = 30.0) -> None:
        end = time.time() + timeout
        while time.time() < end:
            if self.pub.get_subscription_count() > 0 and self.node.count_publishers("/fastscnn/labels") > 0:
                time.sleep(0.3)  # let the match complete both ways
                return
            time.sleep(0.05)
        raise AssertionError("the node did not come up on the test's ROS domain")

    def send(self, bgr: np.ndarray, i: int, encoding: str = "bgr8") -> None:
        m = Image()
        m.header.frame_id = f"cam_{i}"
        m.header.stamp.sec, m.header.stamp.nanosec = 1000 + i, 7 * i
        m.height, m.width = bgr.shape[:2]
        m.encoding = encoding
        m.step = int(bgr.strides[0])
        m.data = array.array("B", bgr.tobytes())
        self.pub.publish(m)

    def close(self) -> None:
        self.ex.shutdown(timeout_sec=1.0)
        self.thread.join(timeout=2)
        self.node.destroy_node()
        self.ctx.try_shutdown()


def _node(model: Path, env: Dict[str, str], *args: str) -> subprocess.Popen:
    cmd = [sys.executable, "-m", "fastscnn_edge", "ros2", str(model), "--image-topic", "/cam/image", *args]
    return subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            preexec_fn=sigint_from_a_terminal)


def _wait_until(cond, timeout: float) -> bool:  # noqa: ANN001
    end = time.time() + timeout
    while time.time() < end:
        if cond():
            return True
        time.sleep(0.05)
    return cond()


@pytest.fixture()
def peer(ros_env):  # noqa: ANN001, ANN201
    p = Peer()
    yield p
    p.close()


def test_labels_equal_the_local_runner_and_headers_survive(model, runner, ros_env, peer, tmp_path):  # noqa: ANN001, F811
    report = tmp_path / "node.json"
    node = _node(model, ros_env, "--reliable", "--depth", "10", "--color", "color", "--camera-info", "/cam/camera_info",
                 "--frames", "6", "--json", str(report))
    try:
        peer.wait_for_node()
        info = CameraInfo()
        info.width, info.height = 160, 120
        info.k = [100.0, 0.0, 80.0, 0.0, 100.0, 60.0, 0.0, 0.0, 1.0]
        peer.info_pub.publish(info)
        time.sleep(0.3)
        frames = _frames(6, size=(120, 160))
        for i, f in enumerate(frames):
            peer.send(f, i)
            assert _wait_until(lambda: len(peer.labels) > i, 20), f"no labels for frame {i}"
        out, err = node.communicate(timeout=60)
    finally:
        if node.poll() is None:
            node.kill()
    assert node.returncode == 0, err
    assert [m.header.frame_id for m in peer.labels] == [f"cam_{i}" for i in range(6)]
    assert [(m.header.stamp.sec, m.header.stamp.nanosec) for m in peer.labels] == [(1000 + i, 7 * i) for i in range(6)]
    for f, m in zip(frames, peer.labels):
        assert m.encoding == "mono8" and (m.height, m.width) == (120, 160)
        assert np.array_equal(labels_from_fields(m), predict_labels(runner, f))
    assert _wait_until(lambda: len(peer.color) == 6, 5) and peer.color[0].encoding == "rgb8"
    assert peer.info and peer.info[-1].header.frame_id.startswith("cam_") and peer.info[-1].width == 160
    assert json.loads(peer.classes[0])["names"] == list(runner.meta.class_names)
    doc = json.loads(report.read_text())
    assert doc["stream"]["streams"][0]["frames_out"] == 6 and doc["stream"]["dropped"] == 0
    assert "ros2 node /fastscnn: 6 frame(s)" in out


def test_a_faster_publisher_gives_counted_drops_not_a_queue(model, ros_env, peer, tmp_path):  # noqa: ANN001, F811
    report = tmp_path / "node.json"
    node = _node(model, ros_env, "--json", str(report))  # best effort, the default: a live stream
    try:
        peer.wait_for_node()
        big = _frames(4, size=(480, 640))
        sent = 0
        t0 = time.time()
        while time.time() - t0 < 3.0:  # as fast as we can: faster than the node takes 640x480 frames
            peer.send(big[sent % 4], sent)
            sent += 1
        time.sleep(0.5)
        node.send_signal(signal.SIGINT)
        out, err = node.communicate(timeout=60)
    finally:
        if node.poll() is None:
            node.kill()
    assert node.returncode == 130, err
    st = json.loads(report.read_text())["stream"]["streams"][0]  # the report is written on Ctrl-C too
    assert st["dropped"] > 0 and st["frames_in"] == st["frames_out"] + st["dropped"]
    assert 0 < st["frames_in"] <= sent and len(peer.labels) <= st["frames_out"]
    # the latency stays bounded: a queue of what was dropped would hold seconds of frames
    assert st["latency_ms"]["max"] < 1500, st["latency_ms"]
    assert "dropped" in out


def test_a_reliable_node_processes_every_frame_it_receives_in_order(model, ros_env, peer, tmp_path):  # noqa: ANN001, F811
    report = tmp_path / "node.json"
    node = _node(model, ros_env, "--reliable", "--depth", "50", "--frames", "20", "--json", str(report))
    try:
        peer.wait_for_node()
        big = _frames(4, size=(480, 640))
        for i in range(20):  # a burst, far faster than the node: it queues, it does not drop
            peer.send(big[i % 4], i)
        assert _wait_until(lambda: len(peer.labels) >= 20, 60)
        out, err = node.communicate(timeout=60)
    finally:
        if node.poll() is None:
            node.kill()
    assert node.returncode == 0, err
    st = json.loads(report.read_text())["stream"]["streams"][0]
    assert st["dropped"] == 0 and st["frames_in"] == st["frames_out"] == 20
    assert [m.header.frame_id for m in peer.labels] == [f"cam_{i}" for i in range(20)]


def test_bad_frames_are_logged_and_skipped_and_the_node_keeps_running(model, runner, ros_env, peer, tmp_path):  # noqa: ANN001, F811
    report = tmp_path / "node.json"
    node = _node(model, ros_env, "--reliable", "--depth", "10", "--frames", "2", "--json", str(report))
    try:
        peer.wait_for_node()
        good = _frames(2)
        peer.send(np.zeros((8, 8), np.uint16), 0, encoding="16UC1")
        time.sleep(0.3)
        short = Image()
        short.height, short.width, short.encoding, short.step = 10, 10, "bgr8", 30
        short.data = array.array("B", bytes(50))
        peer.pub.publish(short)
        time.sleep(0.3)
        for i, f in enumerate(good, 1):
            peer.send(f, i)
            assert _wait_until(lambda: len(peer.labels) >= i, 20)
        out, err = node.communicate(timeout=60)
    finally:
        if node.poll() is None:
            node.kill()
    assert node.returncode == 0, err
    assert "'16UC1' is not 8-bit" in err and "holds 50 bytes" in err
    st = json.loads(report.read_text())["stream"]["streams"][0]
    assert st["bad_frames"] == 2 and st["frames_out"] == 2
    assert np.array_equal(labels_from_fields(peer.labels[-1]), predict_labels(runner, good[-1]))


@pytest.mark.parametrize("sig, code, words", [(signal.SIGINT, 130, "interrupted"), (signal.SIGTERM, 143, "terminated")])
def test_ctrl_c_and_sigterm_stop_the_node(model, ros_env, peer, sig, code, words):  # noqa: ANN001, F811
    node = _node(model, ros_env)
    try:
        peer.wait_for_node()
        frame = _frames(1)[0]
        # best effort (the default) may lose a frame on a busy machine: a camera sends the next one
        got = False
        for i in range(20):
            peer.send(frame, i)
            if _wait_until(lambda: len(peer.labels) >= 1, 1.0):
                got = True
                break
        assert got, "the node published no labels for 20 frames sent 1 s apart"
        node.send_signal(sig)
        _, err = node.communicate(timeout=30)
    finally:
        if node.poll() is None:
            node.kill()
    assert node.returncode == code, err
    assert f"fastscnn-edge ros2 was {words}" in err.splitlines()[-1] and "Traceback" not in err


def test_without_rclpy_it_is_one_line_naming_what_to_install(model, tmp_path):  # noqa: ANN001, F811
    code = ("import sys; sys.modules['rclpy'] = None\n"
            "from fastscnn_edge.cli import main\n"
            f"main(['ros2', {str(model)!r}])\n")
    p = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    lines = [ln for ln in p.stderr.splitlines() if ln.strip()]
    assert p.returncode == 3 and len(lines) == 1, p.stderr
    assert "rclpy" in lines[0] and "pip install 'fastscnn-edge[ros2]'" in lines[0] and "source /opt/ros" in lines[0]


def test_bad_options_are_refused_before_the_node_starts(model, capfd):  # noqa: ANN001, F811
    from tests.test_hostile import refused

    refused(capfd, model.parent, "ros2", model, "--color", "rainbow", needle="unknown colour output 'rainbow'")
    refused(capfd, model.parent, "ros2", model, "--mask-size", "huge", needle="unknown mask size 'huge'")
