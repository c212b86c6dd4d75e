"""Typed field specs for the files fastscnn-edge reads back, checked field by field on read.

Every stored format (native checkpoint, training state, ONNX metadata, engine sidecar,
calibration cache) declares its fields as a ``Dict[str, Field]`` beside the code that writes
it, and reads through :func:`validate`, which returns a clean dict (defaults filled in, ints
accepted as floats) or raises one :class:`~fastscnn_edge.core.errors.UserError` naming the file, the
field and what was expected. :func:`check_format_tag` refuses a file written by a newer
fastscnn-edge before anything else is read. torch-free: a format that holds tensors passes its
own ``check`` callable.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from typing import Any, Callable, Dict, Mapping, Optional, Sequence, Tuple

from fastscnn_edge.core.errors import UserError

_MISSING = object()
_TYPE_WORDS = {str: "a string", int: "an integer", float: "a number", bool: "true or false",
               list: "a list", dict: "an object (mapping)"}


@dataclass(frozen=True)
class Field:
    """What one stored field must be.

    ``kind``: str, int, float (ints accepted, stored as float; must be finite), bool, list
    (tuples accepted, returned as lists), dict, or None for anything. ``choices``: allowed
    values. ``lo``/``hi``: inclusive numeric range. ``length``: exact list length, or
    ``(min, max)``. ``items``: the spec of each list element. ``keys``/``values``: the specs of a
    dict's keys and values. ``fields``: a nested schema for a dict. ``nullable``: None is
    allowed. ``default``: makes the field optional. ``check``: a last test returning an error
    text (what was expected) or None. ``expect``: the expectation text, where the generated one
    would not be clear.
    """

    kind: Optional[type] = None
    default: Any = _MISSING
    choices: Optional[Tuple[Any, ...]] = None
    lo: Optional[float] = None
    hi: Optional[float] = None
    length: Any = None  # int or (min, max)
    items: Optional["Field"] = None
    keys: Optional["Field"] = None
    values: Optional["Field"] = None
    fields: Optional[Mapping[str, "Field"]] = None
    nullable: bool = False
    check: Optional[Callable[[Any], Optional[str]]] = None
    expect: str = ""

    @property
    def required(self) -> bool:
        return self.default is _MISSING

    def describe(self) -> str:
        """The expectation, as the error message says it."""
        if self.expect:
            text = self.expect
        elif self.choices is not None:
            text = "one of " + ", ".join(repr(c) for c in self.choices)
        else:
            text = _TYPE_WORDS.get(self.kind, "a value") if self.kind is not None else "a value"
            if self.kind in (int, float) and (self.lo is not None or self.hi is not None):
                text += " " + _range_text(self.lo, self.hi)
            if self.kind is list:
                n = _length_text(self.length)
                if self.items is not None:
                    text = f"a list of {n + ' ' if n else ''}{_plural(self.items.describe())}"
                elif n:
                    text = f"a list of {n} items"
        return f"null or {text}" if self.nullable and not self.expect else text


def _range_text(lo: Optional[float], hi: Optional[float]) -> str:
    def fmt(v: float) -> str:
        return str(int(v)) if float(v).is_integer() else f"{v:g}"

    if lo is not None and hi is not None:
        return f"{fmt(lo)}..{fmt(hi)}"
    return f">= {fmt(lo)}" if lo is not None else f"<= {fmt(hi)}"  # type: ignore[arg-type]


def _length_text(length: Any) -> str:
    if length is None:
        return ""
    if isinstance(length, int):
        return str(length)
    lo, hi = length
    return f"{lo}..{hi}" if hi is not None else f"{lo} or more"


def _plural(text: str) -> str:
    """'an integer 0..9' -> 'integers 0..9' (good enough for the expectation texts used here)."""
    for article, words in (("an integer", "integers"), ("a number", "numbers"), ("a string", "strings"),
                           ("a list", "lists"), ("an object (mapping)", "objects")):
        if text.startswith(article):
            return words + text[len(article):]
    return f"items that are {text}"


def show(value: Any) -> str:
    """A short, safe rendering of a bad value for an error message."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, str):
        text = repr(value if len(value) <= 40 else value[:37] + "...")
        return f"the string {text}"
    if isinstance(value, (int, float)):
        return repr(value)
    if isinstance(value, (list, tuple)):
        return f"a list of {len(value)} items" if len(value) > 4 or not all(
            isinstance(v, (int, float, str, bool)) or v is None for v in value) else repr(list(value))
    if isinstance(value, dict):
        return f"an object with {len(value)} keys"
    return f"a {type(value).__name__}"


class _Bad(Exception):
    def __init__(self, where: str, value: Any, expected: str) -> None:
        super().__init__(where)
        self.where, self.value, self.expected = where, value, expected


def _check(spec: Field, value: Any, where: str) -> Any:
    original = value  # errors show what was stored, not its normalised form
    if value is None:
        if spec.nullable:
            return None
        raise _Bad(where, value, spec.describe())
    kind = spec.kind
    if kind is bool:
        if not isinstance(value, bool):
            raise _Bad(where, value, spec.describe())
    elif kind is int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise _Bad(where, value, spec.describe())
        value = int(value)
    elif kind is float:
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(float(value)):
            raise _Bad(where, value, spec.describe())
        value = float(value)
    elif kind is str:
        if not isinstance(value, str):
            raise _Bad(where, value, spec.describe())
    elif kind is list:
        if not isinstance(value, (list, tuple)):
            raise _Bad(where, value, spec.describe())
        value = list(value)
    elif kind is dict:
        if not isinstance(value, dict):
            raise _Bad(where, value, spec.describe())
    if spec.choices is not None and value not in spec.choices:
        raise _Bad(where, value, spec.describe())
    if kind in (int, float):
        if (spec.lo is not None and value < spec.lo) or (spec.hi is not None and value > spec.hi):
            raise _Bad(where, original, spec.describe())
    if kind is list:
        n = len(value)
        if spec.length is not None:
            lo, hi = (spec.length, spec.length) if isinstance(spec.length, int) else spec.length
            if n < lo or (hi is not None and n > hi):
                raise _Bad(where, original, spec.describe())
        if spec.items is not None:
            value = [_check(spec.items, v, f"{where}[{i}]") for i, v in enumerate(value)]
    if kind is dict:
        if spec.fields is not None:
            value = _fields(spec.fields, value, where)
        elif spec.keys is not None or spec.values is not None:
            out = {}
            for k, v in value.items():
                sub = f"{where}[{k!r}]" if isinstance(k, str) and len(k) <= 60 else f"{where}[...]"
                if spec.keys is not None:
                    k = _check(spec.keys, k, f"{where} key {show(k)}")
                out[k] = _check(spec.values, v, sub) if spec.values is not None else v
            value = out
    if spec.check is not None:
        why = spec.check(value)
        if why:
            raise _Bad(where, original, why)
    return value


def _fields(schema: Mapping[str, Field], data: Mapping[str, Any], prefix: str) -> Dict[str, Any]:
    out: Dict[str, Any] = {}
    for name, spec in schema.items():
        where = f"{prefix}.{name}" if prefix else name
        if name not in data:
            if spec.required:
                raise _Bad(where, _MISSING, spec.describe())
            default = spec.default() if callable(spec.default) else spec.default
            out[name] = _check(spec, default, where)  # nested fields get their own defaults too
            continue
        out[name] = _check(spec, data[name], where)
    return out


def validate(data: Any, schema: Mapping[str, Field], *, source: str, fix: str, what: str = "") -> Dict[str, Any]:
    """``data`` checked against ``schema``: a new dict holding the schema's fields only.

    Raises UserError ``<source>: <what> field 'x' is <value>; expected <expectation>. Fix: <fix>``
    on the first field that is missing or wrong. Unknown fields are ignored (a same-version
    writer may add optional ones).
    """
    label = f"{what} " if what else ""
    if not isinstance(data, dict):
        raise UserError(f"{source} holds {show(data)}, not {label or 'an '}object of fields.", fix=fix)
    try:
        return _fields(schema, data, "")
    except _Bad as bad:
        got = "is missing" if bad.value is _MISSING else f"is {show(bad.value)}"
        raise UserError(f"{source}: {label}field '{bad.where}' {got}; expected {bad.expected}.", fix=fix) from None


def check_field(value: Any, spec: Field, *, source: str, name: str, fix: str) -> Any:
    """One value checked against one spec (see :func:`validate`)."""
    return validate({name: value}, {name: spec}, source=source, fix=fix)[name]


def check_format_tag(tag: Any, *, family: str, current: int, source: str, foreign: str, fix_foreign: str,
                     separator: str = "/") -> int:
    """The version in a ``<family><separator><N>`` tag; UserError for another format or a newer N.

    ``foreign`` is the cause shown for a missing or unrelated tag (e.g. "is not a fastscnn-edge
    checkpoint"); a tag of this family with N > ``current`` says the file was written by a newer
    fastscnn-edge.
    """
    from fastscnn_edge.core.version import __version__

    m = re.fullmatch(re.escape(family) + re.escape(separator) + r"(\d+)", tag) if isinstance(tag, str) else None
    if m is None:
        raise UserError(f"{source} {foreign}.", fix=fix_foreign)
    version = int(m.group(1))
    if version > current:
        raise UserError(f"{source} was written by a newer fastscnn-edge (format {tag!r}; fastscnn-edge "
                        f"{__version__} reads up to {family}{separator}{current}).",
                        fix="upgrade fastscnn-edge (pip install -U fastscnn-edge), or re-create the file with this version.")
    if version < 1:
        raise UserError(f"{source} has the unknown format version {tag!r}.", fix=fix_foreign)
    return version


def check_version_number(value: Any, *, current: int, source: str, name: str, fix: str) -> int:
    """A plain integer schema version (engine sidecar, ONNX metadata): 1..current, else UserError."""
    from fastscnn_edge.core.version import __version__

    version = check_field(value, Field(int, lo=1), source=source, name=name, fix=fix)
    if version > current:
        raise UserError(f"{source} was written by a newer fastscnn-edge ({name} {version}; fastscnn-edge "
                        f"{__version__} reads up to {current}).",
                        fix="upgrade fastscnn-edge (pip install -U fastscnn-edge), or re-create the file with this version.")
    return version


# --- specs used by several formats ------------------------------------------------------------

def hex_digest(value: Any) -> Optional[str]:
    return None if isinstance(value, str) and re.fullmatch(r"[0-9a-f]{64}", value) else "a sha256 hex digest (64 hex digits)"


def names_list() -> Field:
    """A list of non-empty class names."""
    return Field(list, items=Field(str, check=lambda s: None if s.strip() else "a non-empty string",
                                   expect="a non-empty string"))


def float_triple(lo: float, hi: float, *, what: str, above_lo: bool = False, default: Any = _MISSING) -> Field:
    """Three finite numbers in ``lo..hi`` (``above_lo``: strictly above ``lo``), e.g. mean/std."""
    expect = f"a list of 3 numbers {'> ' + format(lo, 'g') + ' and <= ' + format(hi, 'g') if above_lo else 'in ' + format(lo, 'g') + '..' + format(hi, 'g')} ({what})"

    def within(v: Sequence[float]) -> Optional[str]:
        ok = all((lo < x if above_lo else lo <= x) and x <= hi for x in v)
        return None if ok else expect

    return Field(list, default=default, length=3, items=Field(float), check=within, expect=expect)
