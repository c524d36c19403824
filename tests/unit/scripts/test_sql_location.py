"""The lint check that refuses SQL outside the repository modules."""

from __future__ import annotations

from pathlib import Path

import pytest
from scripts.check_sql_location import ALLOWED, DEFAULT_PATHS, ROOT, check, main, sql_literals

PY = Path("service.py")


@pytest.mark.parametrize(
    "source",
    [
        'conn.execute("SELECT id FROM rules WHERE user_id = %s", (1,))\n',
        'q = """\n    UPDATE rules SET armed = true WHERE id = ANY(%s)"""\n',
        'q = f"INSERT INTO {table} (a) VALUES (%s)"\n',
        'q = ("DELETE FROM outbox "\n     "WHERE id = %s")\n',
        'q = "WITH due AS (SELECT 1) SELECT * FROM due"\n',
        'conn.execute("SET LOCAL jit = off")\n',
    ],
)
def test_a_statement_in_a_string_literal_is_sql(source: str) -> None:
    # Given a module with one SQL statement written as a literal (plain, f-string, joined)
    # When its literals are read, Then exactly that one is SQL
    assert len(sql_literals(PY, source)) == 1


@pytest.mark.parametrize(
    "source",
    [
        'def f() -> None:\n    """SELECT the rows the tick needs."""\n',
        'msg = "create the customer first"\n',
        'label = "Update"\n',
        'word = "SELECTED"\n',
    ],
)
def test_prose_and_docstrings_are_not_sql(source: str) -> None:
    # Given a docstring, lower-case prose or a keyword-like word, When read, Then nothing is SQL
    assert sql_literals(PY, source) == []


def test_the_command_fails_on_planted_sql_outside_a_repository_and_names_it(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # Given a service module with a statement and a repository module with another
    (tmp_path / "service.py").write_text('def f(conn):\n    return conn.execute("SELECT 1 FROM rules")\n')
    (tmp_path / "repository.py").write_text('def g(conn):\n    return conn.execute("SELECT 2 FROM rules")\n')
    # When the check runs on the folder
    status = main([str(tmp_path)])
    # Then it fails and names only the service's line
    out = capsys.readouterr().out
    assert status == 1
    assert f"{tmp_path / 'service.py'}:2: SELECT 1 FROM rules" in out
    assert "repository.py" not in out


def test_count_mode_reports_and_passes(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    # Given a module with two statements
    (tmp_path / "store.py").write_text('A = "SELECT 1 FROM t"\nB = "DELETE FROM t"\n')
    # When counted, Then the module's figure is printed and the command passes
    assert main(["--count", str(tmp_path)]) == 0
    assert "2 SQL literal(s) outside repository modules" in capsys.readouterr().out


def test_every_allowed_module_exists_and_says_why() -> None:
    # Given the allow-list, Then each entry names a real module and a reason
    for module, reason in ALLOWED.items():
        assert (ROOT / module).is_file(), module
        assert len(reason) > 20, module


def test_the_tree_has_sql_only_in_repositories() -> None:
    # Given the code folders make lint checks, When checked, Then no SQL sits outside them
    assert [str(f) for f in check(ROOT / p for p in DEFAULT_PATHS)] == []
