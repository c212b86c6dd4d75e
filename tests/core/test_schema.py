"""The field-spec mechanism every stored format is read through."""

import pytest

from fastscnn_edge.core.errors import UserError
from fastscnn_edge.core.schema import Field, check_format_tag, check_version_number, float_triple, validate

SCHEMA = {
    "n": Field(int, lo=1, hi=10),
    "name": Field(str, choices=("a", "b")),
    "scale": Field(float, default=1.0, lo=0.0),
    "sizes": Field(list, length=2, items=Field(int, lo=32)),
    "tags": Field(dict, default=dict, keys=Field(str), values=Field(str)),
    "inner": Field(dict, default=dict, fields={"flag": Field(bool, default=False)}),
    "maybe": Field(int, default=None, nullable=True),
}
GOOD = {"n": 3, "name": "a", "sizes": [64, 128], "extra_key": "ignored"}


def _err(data: dict) -> str:
    with pytest.raises(UserError) as e:
        validate(data, SCHEMA, source="f.json", fix="rewrite it.", what="test")
    return str(e.value)


def test_clean_dict_with_defaults_and_normalised_types():
    d = validate({**GOOD, "scale": 2, "sizes": (64, 128)}, SCHEMA, source="f.json", fix="-")
    assert d == {"n": 3, "name": "a", "scale": 2.0, "sizes": [64, 128], "tags": {}, "inner": {"flag": False},
                 "maybe": None}
    assert isinstance(d["scale"], float) and "extra_key" not in d


@pytest.mark.parametrize("change, text", [
    ({"n": "3"}, "f.json: test field 'n' is the string '3'; expected an integer 1..10. Fix: rewrite it."),
    ({"n": True}, "field 'n' is true; expected an integer 1..10"),
    ({"n": 11}, "field 'n' is 11; expected an integer 1..10"),
    ({"name": "c"}, "field 'name' is the string 'c'; expected one of 'a', 'b'"),
    ({"scale": float("nan")}, "field 'scale' is nan; expected a number >= 0"),
    ({"sizes": [64]}, "field 'sizes' is [64]; expected a list of 2 integers >= 32"),
    ({"sizes": [64, 16]}, "field 'sizes[1]' is 16; expected an integer >= 32"),
    ({"tags": {"k": 1}}, "field 'tags['k']' is 1; expected a string"),
    ({"inner": {"flag": "yes"}}, "field 'inner.flag' is the string 'yes'; expected true or false"),
    ({"maybe": "x"}, "field 'maybe' is the string 'x'; expected null or an integer"),
])
def test_each_kind_of_wrong_value_names_file_field_and_expectation(change, text):
    assert text in _err({**GOOD, **change})


def test_missing_required_field_and_wrong_top_level_type():
    assert "field 'n' is missing; expected an integer 1..10" in _err({"name": "a", "sizes": [64, 64]})
    assert "f.json holds a list of" in _err([1, 2, 3, 4, 5])  # type: ignore[arg-type]
    assert "f.json holds null" in _err(None)  # type: ignore[arg-type]


def test_a_check_callable_reports_the_stored_value():
    spec = {"mean": float_triple(0.0, 1.0, what="RGB")}
    with pytest.raises(UserError, match=r"field 'mean' is \[1, 2, 3\]; expected a list of 3 numbers in 0..1 \(RGB\)"):
        validate({"mean": [1, 2, 3]}, spec, source="s", fix="-")
    std = {"std": float_triple(0.0, 1.0, what="RGB", above_lo=True)}
    with pytest.raises(UserError, match="> 0 and <= 1"):
        validate({"std": [0.2, 0, 0.2]}, std, source="s", fix="-")


def test_format_tags_refuse_foreign_and_newer():
    assert check_format_tag("fmt/1", family="fmt", current=1, source="x", foreign="is foreign", fix_foreign="-") == 1
    with pytest.raises(UserError, match="x was written by a newer fastscnn-edge .*'fmt/3'.*reads up to fmt/1"):
        check_format_tag("fmt/3", family="fmt", current=1, source="x", foreign="is foreign", fix_foreign="-")
    for tag in (None, 7, "other/1", "fmt/x", "fmt/1/2"):
        with pytest.raises(UserError, match="x is foreign"):
            check_format_tag(tag, family="fmt", current=1, source="x", foreign="is foreign", fix_foreign="-")
    assert check_format_tag("cache v1", family="cache", current=1, separator=" v", source="x", foreign="f",
                            fix_foreign="-") == 1


def test_version_numbers():
    assert check_version_number(1, current=1, source="s", name="schema", fix="-") == 1
    with pytest.raises(UserError, match="newer fastscnn-edge \\(schema 2"):
        check_version_number(2, current=1, source="s", name="schema", fix="-")
    with pytest.raises(UserError, match="field 'schema' is the string 'two'"):
        check_version_number("two", current=1, source="s", name="schema", fix="-")
