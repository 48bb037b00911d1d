"""The documentation stays true: the README stays short, every relative link resolves, every
documented `touchline` verb exists, and the TOUCHLINE_* variables in the docs are the ones
the code reads."""

from __future__ import annotations

import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
README = REPO / "README.md"
DOCS = REPO / "docs"
OPERATIONS = DOCS / "operations.md"

README_MAX_BYTES = 11_000

# Read by scripts/ (bootstrap, bench's load generator), not by the hub: documented in
# docs/operations.md as such.
SCRIPT_VARIABLES = frozenset(
    {"TOUCHLINE_SKIP_BROWSER", "TOUCHLINE_SKIP_KAFKA_JARS", "TOUCHLINE_API_TOKEN"}
)

_FENCE = re.compile(r"^```([\w-]*)[^\n]*\n(.*?)^```[ \t]*$", re.M | re.S)
_INLINE_CODE = re.compile(r"`[^`\n]+`")
_LINK = re.compile(r"\[[^\]]*\]\(([^)\s]+)(?:\s+\"[^\"]*\")?\)")
_HEADING = re.compile(r"^#{1,6}\s+(.+?)\s*#*\s*$", re.M)
_SHELL = {"sh", "bash", "console", "shell"}
# `touchline VERB [WORD]` or `python -m streams VERB [WORD]`, e.g. `.venv/bin/touchline tail`;
# WORD may list alternatives, as in `touchline kafka start|stop|status`.
_COMMAND = re.compile(
    r"(?:^|[\s$/(])(?:touchline|-m\s+streams)[ \t]+([a-z][a-z-]*)(?:[ \t]+([a-z][\w|-]*))?",
    re.M,
)
_VARIABLE = re.compile(r"TOUCHLINE_[A-Z0-9_]*[A-Z0-9]")
_READ_IN_SOURCE = re.compile(r"[\"'](TOUCHLINE_[A-Z0-9_]*[A-Z0-9])[\"']")


def doc_files() -> list[Path]:
    return [README, *sorted(DOCS.glob("*.md"))]


def _without_code(text: str) -> str:
    return _INLINE_CODE.sub("", _FENCE.sub("", text))


def _slug(heading: str) -> str:
    """The anchor GitHub gives a heading."""
    text = re.sub(r"\[([^\]]*)\]\([^)]*\)", r"\1", heading).replace("`", "").lower()
    return re.sub(r"[^\w\- ]", "", text).replace(" ", "-")


def anchors(path: Path) -> set[str]:
    seen: dict[str, int] = {}
    found: set[str] = set()
    for heading in _HEADING.findall(_FENCE.sub("", path.read_text(encoding="utf-8"))):
        slug = _slug(heading)
        n = seen.get(slug, 0)
        seen[slug] = n + 1
        found.add(slug if n == 0 else f"{slug}-{n}")
    return found


def relative_links(path: Path) -> Iterator[str]:
    for target in _LINK.findall(_without_code(path.read_text(encoding="utf-8"))):
        if not re.match(r"^[a-z][a-z0-9+.-]*:", target):  # http:, https:, mailto:
            yield target


def test_the_readme_is_a_short_page() -> None:
    size = len(README.read_bytes())
    assert size <= README_MAX_BYTES, f"README.md is {size} bytes: move detail to docs/"


def test_the_readme_keeps_the_sdk_section_its_integration_test_runs() -> None:
    section = README.read_text(encoding="utf-8").split("## Producing from Python: the SDK", 1)
    assert len(section) == 2 and "```python\n" in section[1].split("\n## ", 1)[0]


def test_the_readme_links_every_docs_page() -> None:
    linked = {
        (README.parent / target.split("#", 1)[0]).resolve() for target in relative_links(README)
    }
    pages = {p.resolve() for p in DOCS.glob("*.md") if p.name != "README.md"}
    pages.add((DOCS / "architecture.md").resolve())
    assert sorted(str(p.relative_to(REPO)) for p in pages - linked) == []


@pytest.mark.parametrize("doc", doc_files(), ids=lambda p: str(p.relative_to(REPO)))
def test_every_relative_link_resolves(doc: Path) -> None:
    broken = []
    for target in relative_links(doc):
        file_part, _, anchor = target.partition("#")
        destination = (doc.parent / file_part).resolve() if file_part else doc
        if not destination.exists():
            broken.append(f"{target}: no such file")
        elif anchor and destination.suffix == ".md" and anchor not in anchors(destination):
            broken.append(f"{target}: no heading with that anchor")
    assert broken == []


def _touchline(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "streams", *args],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=60,
    )


def documented_commands() -> set[tuple[str, str | None]]:
    """(verb, next word) of every `touchline` command in a shell code block, and of every
    inline code span naming one (`touchline policy apply FILE.toml`)."""
    commands: set[tuple[str, str | None]] = set()
    for doc in doc_files():
        text = doc.read_text(encoding="utf-8")
        spans = [m.group(2) for m in _FENCE.finditer(text) if m.group(1) in _SHELL]
        spans += [span.strip("`") for span in _INLINE_CODE.findall(_FENCE.sub("", text))]
        for span in spans:
            span = span.replace("\\\n", " ")
            for verb, words in _COMMAND.findall(span):
                commands.update((verb, word or None) for word in words.split("|"))
    return commands


def test_the_documented_commands_are_found() -> None:
    commands = documented_commands()
    # The README's tour alone names these; an empty set would make the next test vacuous.
    assert {"tail", "customer", "why"} <= {verb for verb, _ in commands}


def test_a_verb_that_does_not_exist_fails_its_help() -> None:
    assert _touchline("no-such-verb", "--help").returncode != 0


def test_every_documented_touchline_command_exists() -> None:
    failures = []
    helps: dict[str, subprocess.CompletedProcess[str]] = {}
    for verb, word in sorted(documented_commands(), key=lambda c: (c[0], c[1] or "")):
        if verb not in helps:
            helps[verb] = _touchline(verb, "--help")
        done = helps[verb]
        if done.returncode != 0:
            failures.append(f"touchline {verb} --help: exit {done.returncode} {done.stderr}")
            continue
        # A verb whose first argument is one of a set (`policy {apply,show}`) is documented
        # with that word: it must be one of them, and its own --help must work too.
        choices = re.search(r"positional arguments:\n\s+\{([\w,-]+)\}", done.stdout)
        if word is None or choices is None:
            continue
        if word not in choices.group(1).split(","):
            failures.append(f"touchline {verb} {word}: not one of {{{choices.group(1)}}}")
            continue
        sub = _touchline(verb, word, "--help")
        if sub.returncode != 0:
            failures.append(f"touchline {verb} {word} --help: exit {sub.returncode} {sub.stderr}")
    assert failures == []


def variables_read_in(root: Path) -> set[str]:
    found: set[str] = set()
    for source in root.rglob("*.py"):
        found.update(_READ_IN_SOURCE.findall(source.read_text(encoding="utf-8")))
    return found


def variables_named_in(paths: list[Path]) -> set[str]:
    return {v for p in paths for v in _VARIABLE.findall(p.read_text(encoding="utf-8"))}


def test_every_documented_variable_is_read_by_the_code() -> None:
    read = variables_read_in(REPO / "streams")
    assert read, "no TOUCHLINE_* string literal found under streams/"
    documented = variables_named_in(doc_files())
    assert sorted(documented - read - SCRIPT_VARIABLES) == []
    scripts = "\n".join(
        p.read_text(encoding="utf-8", errors="replace")
        for p in (REPO / "scripts").iterdir()
        if p.is_file()
    )
    assert sorted(v for v in SCRIPT_VARIABLES if v not in scripts) == []


def test_every_variable_the_code_reads_is_in_the_operations_page() -> None:
    documented = variables_named_in([OPERATIONS])
    read = variables_read_in(REPO / "streams")
    assert sorted(read - documented) == []
    assert sorted(SCRIPT_VARIABLES - documented) == []
