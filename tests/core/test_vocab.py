"""vocab: every option's words are defined once, and a wrong word gets the same one line everywhere."""

import ast
from pathlib import Path

import pytest

from fastscnn_edge.core import vocab
from fastscnn_edge.core.errors import UserError

PKG = Path(__file__).resolve().parents[2] / "fastscnn_edge"
VOCABULARIES = {name: value for name, value in vars(vocab).items()
                if name.isupper() and isinstance(value, tuple) and value and all(isinstance(v, str) for v in value)}


def test_each_vocabulary_is_defined_here_and_nowhere_else():
    """No other module of the package spells one of these word lists as a literal (a second definition
    that could drift); they import it."""
    assert {"PRECISIONS", "HEADS", "DEVICES", "BACKENDS", "TRT_RUNTIMES", "INT8_FORMS", "ONNX_KINDS"} <= set(VOCABULARIES)
    words = {tuple(v): name for name, v in VOCABULARIES.items()}
    words.update({("auto",) + tuple(v): name for name, v in VOCABULARIES.items()})  # with "auto" in front
    found = []
    for path in sorted(PKG.rglob("*.py")):
        if path.name == "vocab.py":
            continue
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Tuple) and node.elts and all(isinstance(e, ast.Constant) and isinstance(e.value, str)
                                                                 for e in node.elts):
                key = tuple(e.value for e in node.elts)  # type: ignore[attr-defined]
                if key in words and len(key) > 1:
                    found.append(f"{path.relative_to(PKG)}:{node.lineno} {key} (= vocab.{words[key]})")
    assert found == []


@pytest.mark.parametrize("what, words", [("precision", vocab.PRECISIONS), ("head", vocab.HEADS),
                                         ("device", vocab.DEVICES), ("backend", vocab.BACKENDS)])
def test_check_returns_a_known_word_and_refuses_others_with_the_list(what, words):
    for w in words:
        assert vocab.check(what, w) == w
    with pytest.raises(UserError) as e:
        vocab.check(what, "nonsense")
    assert str(e.value).startswith(f"unknown {what} 'nonsense'.")
    assert all(w in e.value.fix for w in words)


def test_library_steps_and_the_cli_give_the_same_line_for_a_wrong_word(tmp_path, capsys):
    from fastscnn_edge.bench.cases import select_cases
    from fastscnn_edge.cli import main

    with pytest.raises(UserError) as lib:
        select_cases([], backend="tensorrtx")
    with pytest.raises(SystemExit) as ex:
        main(["bench", "--backend", "tensorrtx"])
    err = capsys.readouterr().err
    assert ex.value.code == 2 and lib.value.cause in err and len(err.strip().splitlines()) == 1
