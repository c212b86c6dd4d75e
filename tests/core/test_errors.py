"""errors: one line (cause + fix) and the exit code each kind of failure gets from the CLI."""

import pytest

from fastscnn_edge.core.errors import Interrupted, MissingDependency, Terminated, UserError, ValidationFailed, signal_words


def test_one_line_with_cause_and_fix():
    e = UserError("the file is odd.", fix="pass another one.")
    assert str(e) == "the file is odd. Fix: pass another one." and e.cause == "the file is odd." and e.fix == "pass another one."
    assert str(UserError("no fix known.")) == "no fix known."


def test_exit_codes():
    assert (UserError("x").exit_code, MissingDependency("x").exit_code, ValidationFailed("x").exit_code) == (2, 3, 4)
    assert Interrupted("x").exit_code == 130 and Interrupted("x", terminated=True).exit_code == 143
    assert signal_words(Terminated()) == "terminated (SIGTERM)" and "SIGINT" in signal_words(KeyboardInterrupt())


def test_the_cli_prints_one_line_and_exits_with_the_code(capsys):
    from fastscnn_edge.cli import main

    with pytest.raises(SystemExit) as ex:
        main(["export", "--res", "100x200"])
    err = capsys.readouterr().err.strip().splitlines()
    assert ex.value.code == 2 and len(err) == 1 and "not a multiple of 32" in err[0] and "Fix:" in err[0]
