"""MkDocs hooks: the site shows the repository's pages, linked as the repository links them.

The site's pages are docs/*.md (MkDocs' ``docs_dir``), README.md (the home page) and
each examples/*/README.md. Their links are written for the repository, so that they
work where people read them there; here each is rewritten to where its target is
on the site. A file they link to that is not a page (a systemd unit, a Python
module) is copied into the site as it is, so no link leads nowhere.
"""

from __future__ import annotations

import posixpath
import re
from pathlib import Path

from mkdocs.config.defaults import MkDocsConfig
from mkdocs.structure.files import File, Files
from mkdocs.structure.pages import Page

REPO = Path(__file__).resolve().parent.parent
OUTSIDE_PAGES = (
    "README.md",
    *sorted(p.relative_to(REPO).as_posix() for p in REPO.glob("examples/*/README.md")),
)
_FENCED = re.compile(r"^(```|~~~).*?^\1[^\n]*$", re.DOTALL | re.MULTILINE)
_LINK = re.compile(r"(?P<open>\]\()(?P<path>[^)\s#]*)(?P<rest>[^)]*\))")


def site_path(repo_path: str) -> str:
    """Where a repository file is on the site."""
    if repo_path == "README.md":
        return "index.md"
    return repo_path.removeprefix("docs/")


def repo_path(src_uri: str) -> str:
    """Where a page of the site is in the repository."""
    if src_uri == "index.md":
        return "README.md"
    return src_uri if src_uri in OUTSIDE_PAGES else f"docs/{src_uri}"


def _target(page: str, link: str) -> str | None:
    """The repository file a relative link of ``page`` points at, or None (external, anchor only)."""
    if not link or re.match(r"^[a-z][a-z0-9+.-]*:", link) or link.startswith("/"):
        return None
    target = posixpath.normpath(posixpath.join(posixpath.dirname(page), link))
    if (REPO / target).is_dir():
        for inside in ("README.md", "__init__.py"):
            if (REPO / target / inside).is_file():
                return f"{target}/{inside}"
    return target


def _prose(markdown: str) -> list[tuple[bool, str]]:
    """The text in pieces, each marked True if it is prose (not a fenced block)."""
    pieces, start = [], 0
    for block in _FENCED.finditer(markdown):
        pieces += [(True, markdown[start : block.start()]), (False, block.group())]
        start = block.end()
    return [*pieces, (True, markdown[start:])]


def _linked_files(page: str) -> set[str]:
    text = (REPO / page).read_text()
    found = set()
    for is_prose, piece in _prose(text):
        for link in _LINK.finditer(piece) if is_prose else ():
            target = _target(page, link.group("path"))
            if target is not None and (REPO / target).is_file():
                found.add(target)
    return found


def on_files(files: Files, config: MkDocsConfig) -> Files:
    """Add README.md, the examples' READMEs and every non-page file any page links to."""
    pages = [*OUTSIDE_PAGES, *(f"docs/{f.src_uri}" for f in files.documentation_pages())]
    wanted = set(OUTSIDE_PAGES)
    for page in pages:
        wanted |= {t for t in _linked_files(page) if not t.startswith("docs/")}
    for path in sorted(wanted):
        files.append(File.generated(config, site_path(path), abs_src_path=str(REPO / path)))
    return files


def on_page_markdown(markdown: str, page: Page, config: MkDocsConfig, files: Files) -> str:
    """Rewrite each relative link from the repository's layout to the site's."""
    here = repo_path(page.file.src_uri)

    def relink(link: re.Match[str]) -> str:
        target = _target(here, link.group("path"))
        if target is None:
            return link.group()
        moved = posixpath.relpath(site_path(target), posixpath.dirname(site_path(here)) or ".")
        return f"{link.group('open')}{moved}{link.group('rest')}"

    return "".join(_LINK.sub(relink, piece) if is_prose else piece for is_prose, piece in _prose(markdown))
