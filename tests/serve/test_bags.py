"""ROS 2 bags through rosbags: a bag in, a bag of labels out at the same timestamps and headers."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from tests.serve.test_stream import _frames, model, runner  # noqa: F401 - fixtures

from fastscnn_edge.bench.evaluate import predict_labels
from fastscnn_edge.core.errors import UserError

pytest.importorskip("rosbags", reason="needs rosbags (scripts/setup.sh dev installs it: pip install rosbags)")

from fastscnn_edge.serve import bags  # noqa: E402


@pytest.mark.parametrize("storage", ["sqlite3", "mcap"])
def test_predict_a_bag_writes_labels_at_the_same_timestamps(model, runner, tmp_path, storage):  # noqa: ANN001, F811
    from fastscnn_edge.serve.predict import predict

    frames = _frames(6)
    src = bags.write_image_bag(tmp_path / "drive", "/cam/image_raw", frames, encoding="rgb8", storage=storage)
    result = predict(model, [src], tmp_path / "out", "color", image_topic="/cam/image_raw")
    out = tmp_path / "out" / "drive"
    assert result.outputs == [out] and result.frames == 6
    got = bags.read_labels(out)
    assert [ts for ts, _, _ in got] == [1_700_000_000_000_000_000 + i * 100_000_000 for i in range(6)]
    assert all(h.frame_id == "camera" and h.stamp.sec * 10**9 + h.stamp.nanosec == ts for ts, h, _ in got)
    for f, (_, _, labels) in zip(frames, got):
        assert np.array_equal(labels, predict_labels(runner, f))
    from fastscnn_edge.data.palette import colorize
    from fastscnn_edge.serve.rosimage import image_to_bgr

    colour = bags.read_messages(out, bags.COLOR_TOPIC)
    assert [ts for ts, _ in colour] == [ts for ts, _, _ in got] and colour[0][1].encoding == "rgb8"
    assert np.array_equal(image_to_bgr(colour[0][1]), colorize(got[0][2], runner.meta.num_classes))
    classes = bags.read_messages(out, bags.CLASSES_TOPIC)
    assert len(classes) == 1 and json.loads(classes[0][1].data)["names"] == list(runner.meta.class_names)
    assert sorted(bags.image_topics(out)) == [bags.COLOR_TOPIC, bags.LABELS_TOPIC]
    assert [p.name for p in (tmp_path / "out").iterdir()] == ["drive"]  # no temporary left


def test_a_bag_without_the_topic_or_without_a_topic_given_is_one_line(model, tmp_path):  # noqa: ANN001, F811
    from fastscnn_edge.serve.predict import predict

    src = bags.write_image_bag(tmp_path / "drive", "/cam/image_raw", _frames(2))
    with pytest.raises(UserError, match=r"no topic /nope \(image topics: /cam/image_raw \(Image\)\)"):
        predict(model, [src], tmp_path / "out", "trainids", image_topic="/nope")
    with pytest.raises(UserError, match=r"which topic holds the images\? \(image topics: /cam/image_raw\).*--image-topic"):
        predict(model, [src], tmp_path / "out", "trainids")
    assert not (tmp_path / "out").exists() or not any((tmp_path / "out").iterdir())


def test_a_16_bit_bag_is_refused_and_writes_nothing(model, tmp_path):  # noqa: ANN001, F811
    from fastscnn_edge.serve.predict import predict

    depth = [np.zeros((8, 8, 3), np.uint8)] * 2
    src = bags.write_image_bag(tmp_path / "depth", "/d", depth, encoding="16UC1")
    with pytest.raises(UserError, match="message 1: image encoding '16UC1' is not 8-bit"):
        predict(model, [src], tmp_path / "out", "trainids", image_topic="/d")
    assert not (tmp_path / "out").exists() or not any((tmp_path / "out").iterdir())


def test_a_folder_that_is_not_a_bag_is_not_taken_for_one(tmp_path):  # noqa: ANN001
    (tmp_path / "x").mkdir()
    assert not bags.is_bag(tmp_path / "x")
    with pytest.raises(UserError, match="cannot read the bag"):
        bags.image_topics(Path(tmp_path / "x"))
