"""ModelMeta as stored in ONNX metadata_props and sidecars: round trip, schema version, limits."""

import pytest

from fastscnn_edge.core.errors import UserError
from fastscnn_edge.core.metadata import ARCHES, PREFIX, SCHEMA_VERSION, ModelMeta, check_labels_fit


def test_arches_match_the_model_variants():
    from fastscnn_edge.model.network import VARIANTS

    assert ARCHES == tuple(VARIANTS)


def test_props_round_trip_and_carry_the_schema_version():
    meta = ModelMeta(head="prob", input_format="bgr8", resolution=(64, 128), num_classes=3,
                     class_names=["a", "b", "c"], extra={"opset": "17"})
    props = meta.to_props()
    assert props[PREFIX + "schema"] == str(SCHEMA_VERSION)
    assert ModelMeta.from_props(props) == meta
    del props[PREFIX + "schema"]  # files written before the key existed read as version 1
    assert ModelMeta.from_props(props) == meta
    assert ModelMeta.from_json(meta.to_json()) == meta


def test_empty_class_names_get_defaults_and_wrong_counts_are_refused():
    props = ModelMeta(resolution=(64, 128), num_classes=3, class_names=[]).to_props()
    assert ModelMeta.from_props(props).class_names == ["class_0", "class_1", "class_2"]
    props[PREFIX + "class_names"] = '["a"]'
    with pytest.raises(UserError, match="'class_names' has 1 names for num_classes 3"):
        ModelMeta.from_props(props, "m.onnx")


def test_label_dtype_capacity():
    check_labels_fit(255, "uint8")
    check_labels_fit(1000, "int32")
    with pytest.raises(UserError, match="label 299 would wrap to 43") as e:
        check_labels_fit(300, "uint8")
    assert "--labels int32" in e.value.fix
    props = ModelMeta(resolution=(64, 128), num_classes=300, class_names=[]).to_props()
    with pytest.raises(UserError, match="uint8 labels for 300 classes"):
        ModelMeta.from_props(props, "m.onnx")
    props[PREFIX + "head"] = "prob"  # no labels output: uint8 does not apply
    assert ModelMeta.from_props(props).num_classes == 300
