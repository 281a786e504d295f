"""The docs still hold: every internal link resolves, every Python sample runs, every command exists.

Pages are README.md and docs/*.md; the examples' READMEs are checked for links
too (the site includes them). A ```python block runs, in order with the page's
other blocks in one namespace, against the test Redis (``REDIS_URL`` is set) or
the fakeredis it makes itself; each ``test_*`` function it defines is called.
Two HTML comments, on the line before a block, change that:

- ``<!-- file: PATH -->``: the block is written to PATH in a scratch project on
  ``sys.path`` before the page's samples run (a module later samples import);
- ``<!-- not run: WHY -->``: the block is only illustrative (it needs a payment
  gateway that does not exist). Keep these few.

A ```sh line that runs ``stalwart ...`` must parse with the real command line
(so a renamed option fails here), and ``make TARGET`` must name a Makefile target.
"""

from __future__ import annotations

import contextlib
import io
import re
import shlex
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from jobs import invariants, rules
from jobs.cli.parser import build_parser
from tests.conftest import REPO
from tests.docs.markdown import Block, Page, github_slug, mkdocs_slug

PAGES = [REPO / "README.md", *sorted((REPO / "docs").glob("*.md"))]
EXAMPLES = sorted((REPO / "examples").glob("*/README.md"))
FILE = re.compile(r"^file:\s*(\S+)$")
NOT_RUN = re.compile(r"^not run:\s*\S")
SHELL = ("sh", "bash", "shell", "console")


def _name(path: Path) -> str:
    return str(path.relative_to(REPO))


# -- links ---------------------------------------------------------------------------------------


def broken_links(page: Page) -> Iterator[str]:
    """Each link of ``page`` that does not resolve, as ``file:line: why``."""
    for link in page.links():
        where = f"{_name(page.path)}:{link.line}: {link.target}"
        if re.match(r"^[a-z][a-z0-9+.-]*:", link.target):  # http:, https:, mailto:
            continue
        path, _, anchor = link.target.partition("#")
        if path.startswith("/"):
            yield f"{where}: an absolute path works neither on the site nor in the repository"
            continue
        target = (page.path.parent / path).resolve() if path else page.path
        if REPO not in target.parents and target != REPO:
            yield f"{where}: points outside the repository"
        elif not target.exists():
            yield f"{where}: no such file"
        elif anchor:
            if target.suffix != ".md":
                yield f"{where}: an anchor into a file that is not Markdown"
                continue
            linked = Page.read(target) if path else page
            for renderer, ids in (
                ("MkDocs", linked.anchors(mkdocs_slug, "_")),
                ("GitHub", linked.anchors(github_slug, "-")),
            ):
                if anchor not in ids:
                    yield f"{where}: no heading of {_name(target)} has the id {anchor!r} on {renderer}"


@pytest.mark.parametrize("path", [*PAGES, *EXAMPLES], ids=_name)
def test_every_internal_link_resolves_to_a_file_and_a_heading(path: Path) -> None:
    assert list(broken_links(Page.read(path))) == []


def test_the_readme_links_to_every_guide_page() -> None:
    linked = {
        (REPO / link.target.partition("#")[0]).resolve() for link in Page.read(REPO / "README.md").links()
    }
    assert [_name(p) for p in PAGES[1:] if p.resolve() not in linked] == []


def test_a_link_to_a_missing_heading_is_found() -> None:
    # Given a page whose heading reads differently on MkDocs and on GitHub ("a & b": a-b, a--b)
    page = Page.read(REPO / "docs" / "concepts.md")
    fake = Page(page.path, [], ["## Logs & alerts", "[x](#logs-alerts)", "[y](#nowhere)"])
    assert [problem.split(": ", 2)[2] for problem in broken_links(fake)] == [
        "no heading of docs/concepts.md has the id 'logs-alerts' on GitHub",
        "no heading of docs/concepts.md has the id 'nowhere' on MkDocs",
        "no heading of docs/concepts.md has the id 'nowhere' on GitHub",
    ]


# -- Python samples ------------------------------------------------------------------------------


def _marker(block: Block, pattern: re.Pattern[str]) -> re.Match[str] | None:
    return pattern.match(block.marker) if block.marker else None


def _python(page: Page) -> list[Block]:
    return [b for b in page.blocks if b.language in ("python", "py")]


@pytest.fixture
def scratch_project(tmp_path: Path) -> Iterator[Path]:
    """A directory on sys.path for the modules a page writes; its modules, rules and invariants are
    forgotten afterwards, so no other test sees them."""
    sys.path.insert(0, str(tmp_path))
    before = set(sys.modules)
    declared = (dict(rules._rules), dict(invariants._invariants))
    yield tmp_path
    rules._rules.clear()
    rules._rules.update(declared[0])
    invariants._invariants.clear()
    invariants._invariants.update(declared[1])
    sys.path.remove(str(tmp_path))
    for name in set(sys.modules) - before:
        if str(tmp_path) in str(getattr(sys.modules[name], "__file__", "") or ""):
            del sys.modules[name]


def run_samples(page: Page, project: Path) -> int:
    """Run the page's Python samples as a reader would; returns how many ran."""
    for block in _python(page):
        written = _marker(block, FILE)
        if written:
            target = project / written.group(1)
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_text(block.code)
    namespace: dict[str, object] = {"__name__": f"docs_{page.path.stem.replace('-', '_')}"}
    ran = 0
    for block in _python(page):
        if _marker(block, FILE) or _marker(block, NOT_RUN):
            continue
        before = set(namespace)
        # Blank lines up to the block, so a traceback names the line of the page.
        source = "\n" * block.line + block.code
        exec(compile(source, str(page.path), "exec"), namespace)
        for name in sorted(set(namespace) - before):
            test = namespace[name]
            if name.startswith("test_") and callable(test):
                test()
        ran += 1
    return ran


@pytest.mark.parametrize("path", PAGES, ids=_name)
def test_every_python_sample_runs(path: Path, redis_url: str, scratch_project: Path) -> None:
    page = Page.read(path)
    unmarked = [b.line for b in page.blocks if not b.language]
    assert unmarked == [], f"{_name(path)}: say what each fenced block holds (```python, ```sh, ```text)"
    for block in _python(page):
        if block.marker and not (_marker(block, FILE) or _marker(block, NOT_RUN)):
            pytest.fail(f"{_name(path)}:{block.line}: unknown marker {block.marker!r}")
    run_samples(page, scratch_project)


def test_only_a_few_samples_are_not_run() -> None:
    not_run = [f"{_name(p)}:{b.line}" for p in PAGES for b in _python(Page.read(p)) if _marker(b, NOT_RUN)]
    assert len(not_run) <= 3, not_run


def test_a_sample_that_drifts_from_the_code_fails(tmp_path: Path) -> None:
    # Given a page whose sample uses an option that does not exist
    page = tmp_path / "drifted.md"
    page.write_text("```python\nfrom jobs import Job\n\nclass Late(Job):\n    max_attempt = 3\n```\n")
    with pytest.raises(Exception, match="max_attempt"):
        run_samples(Page.read(page), tmp_path)


# -- shell samples -------------------------------------------------------------------------------


def _commands(block: Block) -> Iterator[list[str]]:
    """Each simple command of a shell block, as words, environment assignments left out."""
    text = block.code.replace("\\\n", " ")
    for line in text.splitlines():
        words = shlex.split(line, comments=True)
        command: list[str] = []
        for word in [*words, ";"]:
            if word in ("&&", "||", ";", "|"):
                while command and re.match(r"^[A-Z_][A-Z0-9_]*=", command[0]):
                    command.pop(0)
                if command:
                    yield command
                command = []
            else:
                command.append(word)


def command_problem(words: list[str]) -> str | None:
    """Why ``words`` would not run as written (for ``stalwart`` and ``make``), or None."""
    if words[0] == "stalwart":
        errors = io.StringIO()
        try:
            with contextlib.redirect_stderr(errors), contextlib.redirect_stdout(io.StringIO()):
                build_parser().parse_args(words[1:])
        except SystemExit as stopped:
            if stopped.code not in (0, None):
                return errors.getvalue().strip() or f"exit {stopped.code}"
    if words[0] == "make":
        targets = set(re.findall(r"^([a-z][\w-]*):", (REPO / "Makefile").read_text(), re.MULTILINE))
        missing = [t for t in words[1:] if not t.startswith("-") and t not in targets]
        if missing:
            return f"the Makefile has no target {', '.join(missing)}"
    return None


@pytest.mark.parametrize("path", PAGES, ids=_name)
def test_every_stalwart_command_in_a_shell_sample_parses(path: Path) -> None:
    page = Page.read(path)
    problems = [
        f"{_name(path)}:{block.line}: {' '.join(words)}: {problem}"
        for block in page.blocks
        if block.language in SHELL
        for words in _commands(block)
        if (problem := command_problem(words))
    ]
    assert problems == []


def test_a_command_with_an_option_that_does_not_exist_is_found() -> None:
    assert command_problem(["stalwart", "dlq", "list", "--jobs", "x"]) == (
        "stalwart: error: unrecognized arguments: --jobs x; see `stalwart --help`"
    )
    assert command_problem(["make", "docs-site"]) == "the Makefile has no target docs-site"
    assert command_problem(["stalwart", "dlq", "replay", "5d1c", "--import", "myapp.jobs"]) is None
