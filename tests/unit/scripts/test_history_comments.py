"""The lint check that refuses comments telling how the code came to be written."""

from __future__ import annotations

from pathlib import Path

import pytest
from scripts.check_history_comments import DEFAULT_PATHS, ROOT, check, findings_in, main

PY = Path("example.py")


@pytest.mark.parametrize(
    "source",
    [
        "x = 1  # moved here from the api function\n",
        "# The old implementation read every row.\n",
        "# Refactored into one query per chain.\n",
        "# Previously the tick ran per shard.\n",
        "# the wallet client now lives in tidewatch.transactions\n",
        "# New: one cursor per page\n",
        "# fixed the bug where stale rows were served\n",
        "# was moved to tidewatch.rules.deps\n",
        "# we changed the cache key in this session\n",
        "def f() -> None:\n    '''Kept for backwards compatibility with callers.'''\n",
        '"""Module docstring: used to live in ingest/logic.py."""\n',
        'Field(default=1, description="No longer needed since the old cache went away")\n',
        "#!/bin/sh\n# Previously this script also built the dashboard\n",
    ],
)
def test_a_comment_about_the_code_s_history_is_refused(source: str) -> None:
    # Given a comment, docstring or documented field that tells how the code came to be
    path = Path("example.sh") if source.startswith("#!") else PY
    # When it is checked
    found = findings_in(path, source)
    # Then it is reported
    assert len(found) == 1


@pytest.mark.parametrize(
    "source",
    [
        "# The stored definition no longer validates: the rule is disabled.\n",
        "# Stripe no longer lists it: its customer was deleted.\n",
        '"""Decode a signed raw transaction (EIP-2718 typed or legacy) and recover its sender."""\n',
        "# A legacy transaction carries its chain id in v.\n",
        "# Given the user moved from sub_old to sub_new\n",
        "# the collateral moved to reserves\n",
        "# Missing returns count as zero-weight; used to build training features without look-ahead.\n",
        "# The old token still works, and new tokens carry k2\n",
        "# Evaluate the rule now against current data.\n",
        "# When the approval is signed by another key, or its calldata changed: refused\n",
        "# each 4xx/5xx response is rewritten to application/problem+json\n",
        "x = 'previously'  # a string that is not documentation is not read\n",
    ],
)
def test_domain_words_pass(source: str) -> None:
    # Given a comment whose words have a domain meaning (or text that is not documentation)
    # When it is checked, Then nothing is reported
    assert findings_in(PY, source) == []


def test_the_command_fails_on_a_planted_comment_and_names_it(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # Given a file with one history comment
    planted = tmp_path / "planted.py"
    planted.write_text("def f() -> int:\n    return 1  # refactored out of the handler\n")
    # When the check runs on it
    status = main([str(tmp_path)])
    # Then it fails and prints where
    assert status == 1
    assert f"{planted}:2: 'refactored'" in capsys.readouterr().out


def test_the_tree_has_no_history_comments() -> None:
    # Given the code folders make lint checks, When checked, Then nothing is found
    assert [str(f) for f in check(ROOT / p for p in DEFAULT_PATHS)] == []
