"""Refuse comments that tell how the code came to be written instead of what it does and why.

    python scripts/check_history_comments.py [PATH ...]    # default: functions local tests bench scripts

Reads every Python comment, docstring and `description=`/`summary=`/`help=` text (those reach
docs/openapi.json and the CLI's help), and every `#` comment of the shell scripts. A text fails
when it matches one of the phrases below: words that only make sense to someone who saw an
earlier version ("previously", "was moved", "refactored", "the old implementation", "now lives
in", "this session"). Words with a domain meaning stay allowed: a token that "no longer"
verifies, a "legacy" (pre-EIP-2718) transaction, collateral that "moved" to reserves, a value
"used to" build features. Exit status 1 lists each finding as `path:line: phrase: text`.
"""

from __future__ import annotations

import ast
import io
import re
import sys
import tokenize
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_PATHS = ("functions", "local", "tests", "bench", "scripts")
SKIPPED_DIRS = {"node_modules", "__pycache__", ".venv"}
SELF = Path(__file__).resolve()  # quotes the phrases it refuses
TEXT_KEYWORDS = {"description", "summary", "help"}

# Each phrase is a regular expression matched case-insensitively against one line of text.
HISTORY_PHRASES: tuple[str, ...] = (
    r"\bpreviously\b",
    r"\bformerly\b",
    r"\bhistorically\b",
    r"\boriginally\b",
    r"\banymore\b",
    r"\buntil now\b",
    r"\brefactor(?:s|ed|ing)?\b",
    r"(?<!typed or )\blegacy\b(?![ _-]?(?:transactions?|txs?|type)\b)",
    r"\bused to (?:be|live|sit|go|call|read|return|take|have|hold|import|use|run|work|do|say)\b",
    r"\b(?:was|were|has been|have been|got) (?:moved|renamed|extracted|inlined|split out|rewritten|reworked)\b",
    r"\bmoved (?:here|there|out|over|away)\b",
    r"\bmoved (?:from|to|into|out of) (?:`|the (?:core|module|package|file|function|helper|class)\b)",
    r"\bnow (?:lives?|sits?|goes through|comes from|is done|is handled|handled|imports?|delegates?)\b",
    r"\b(?:we|I) (?:changed|moved|removed|replaced|renamed|switched|refactored|rewrote|now|no longer|used to)\b",
    r"\bthis (?:session|commit|refactor(?:ing)?|rewrite|pull request|PR)\b",
    r"\b(?:the|an?) (?:old|previous|former|earlier) (?:code|implementation|approach|way|design|layout|version of (?:the|this) code|"
    r"module|helper|path|entry point|handler|api|name|behaviou?r|logic|shape)\b",
    r"\binstead of the (?:old|previous|former)\b",
    r"\bno longer (?:needed|used|required|necessary|supported|called|imported|exists? in (?:the )?code)\b",
    r"\b(?:bug ?fix|hot ?fix)\b",
    r"\bfix(?:es|ed)? (?:a |the )?(?:bug|regression|typo)\b",
    r"\b(?:issue|PR|pull request|ticket) #?\d+\b",
    r"^\s*(?:new|old|fixed|changed|removed|added|updated) ?:",
    r"\b(?:kept|left|remains?) (?:here )?for (?:backwards? )?compat(?:ibility)?\b",
)
PATTERNS = tuple(re.compile(p, re.IGNORECASE) for p in HISTORY_PHRASES)


@dataclass(frozen=True)
class Finding:
    path: Path
    line: int
    phrase: str
    text: str

    def __str__(self) -> str:
        return f"{self.path}:{self.line}: {self.phrase!r}: {self.text.strip()}"


def _python_texts(source: str) -> Iterator[tuple[int, str]]:
    """(line, text) of every comment, docstring and documentation keyword string."""
    for token in tokenize.generate_tokens(io.StringIO(source).readline):
        if token.type == tokenize.COMMENT:
            yield token.start[0], token.string.lstrip("#")
    tree = ast.parse(source)
    strings: list[ast.Constant] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Module | ast.ClassDef | ast.FunctionDef | ast.AsyncFunctionDef) and node.body:
            first = node.body[0]
            if isinstance(first, ast.Expr) and isinstance(first.value, ast.Constant):
                strings.append(first.value)
        elif isinstance(node, ast.keyword) and node.arg in TEXT_KEYWORDS:
            strings.extend(c for c in ast.walk(node.value) if isinstance(c, ast.Constant))
    for constant in strings:
        if isinstance(constant.value, str):
            for offset, line in enumerate(constant.value.splitlines()):
                yield constant.lineno + offset, line


def _shell_texts(source: str) -> Iterator[tuple[int, str]]:
    for number, line in enumerate(source.splitlines(), start=1):
        stripped = line.lstrip()
        if stripped.startswith("#") and not stripped.startswith("#!"):
            yield number, stripped.lstrip("#")


def findings_in(path: Path, source: str) -> list[Finding]:
    """The history phrases in one file's comments and documentation texts."""
    texts = _shell_texts(source) if path.suffix == ".sh" else _python_texts(source)
    found = []
    for line, text in texts:
        for pattern in PATTERNS:
            match = pattern.search(text)
            if match:
                found.append(Finding(path, line, match.group(0), text))
                break
    return found


def files_under(paths: Iterable[Path]) -> Iterator[Path]:
    for path in paths:
        if path.is_file():
            yield path
            continue
        for candidate in sorted(path.rglob("*")):
            if (
                candidate.suffix in {".py", ".sh"}
                and not SKIPPED_DIRS.intersection(candidate.parts)
                and candidate.resolve() != SELF
            ):
                yield candidate


def check(paths: Iterable[Path]) -> list[Finding]:
    found: list[Finding] = []
    for path in files_under(paths):
        found.extend(findings_in(path, path.read_text(encoding="utf-8")))
    return found


def main(argv: list[str]) -> int:
    paths = [Path(a) for a in argv] or [ROOT / p for p in DEFAULT_PATHS]
    found = check(paths)
    for finding in found:
        print(finding)
    if found:
        print(
            f"{len(found)} comment(s) tell how the code was written: say what it does and why instead",
            file=sys.stderr,
        )
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
