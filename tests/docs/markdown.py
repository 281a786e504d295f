"""Just enough Markdown for the docs check: fenced blocks, headings and their anchors, links.

Anchors follow both renderers a reader meets: MkDocs (Python-Markdown's ``toc``
extension: ``markdown.extensions.toc.slugify``, duplicates suffixed ``_1``, ``_2``)
and GitHub (lower case, punctuation dropped, each space a hyphen, duplicates
suffixed ``-1``, ``-2``). A link's anchor must resolve under both, so a page reads
the same on the site and in the repository.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

_FENCE = re.compile(r"^(?P<indent> {0,3})(?P<fence>`{3,}|~{3,})\s*(?P<info>[^`\s]*)[^`]*$")
_HEADING = re.compile(r"^ {0,3}(#{1,6})\s+(.*?)\s*#*\s*$")
_COMMENT = re.compile(r"^\s*<!--\s*(.*?)\s*-->\s*$")
_CODE_SPAN = re.compile(r"(`+)(?:(?!\1).)+?\1")
_LINK = re.compile(r"!?\[(?P<text>[^\]]*)\]\((?P<target><[^>]*>|[^)\s]+)(?:\s+\"[^\"]*\")?\)")


@dataclass(frozen=True)
class Block:
    """A fenced code block: its language, code, the line of its opening fence, and the comment before it."""

    language: str
    code: str
    line: int
    marker: str | None


@dataclass(frozen=True)
class Link:
    """A Markdown link (or image) in prose: where it points, and the line it is on."""

    target: str
    line: int


@dataclass(frozen=True)
class Page:
    """One Markdown file, split into its code blocks and its prose lines (code blocks blanked out)."""

    path: Path
    blocks: list[Block]
    prose: list[str]

    @classmethod
    def read(cls, path: Path) -> Page:
        """Split ``path`` into fenced blocks and prose."""
        lines = path.read_text().splitlines()
        blocks, prose = [], list(lines)
        number = 0
        while number < len(lines):
            opening = _FENCE.match(lines[number])
            if opening is None:
                number += 1
                continue
            fence = opening.group("fence")
            end = number + 1
            while end < len(lines) and not lines[end].strip().startswith(fence):
                end += 1
            before = [line for line in lines[:number] if line.strip()]
            marker = _COMMENT.match(before[-1]) if before else None
            code = "\n".join(lines[number + 1 : end]) + "\n"
            blocks.append(Block(opening.group("info").lower(), code, number + 1, marker and marker.group(1)))
            for blanked in range(number, min(end + 1, len(lines))):
                prose[blanked] = ""
            number = end + 1
        return cls(path, blocks, prose)

    def links(self) -> Iterator[Link]:
        """Every link and image in prose (not in code blocks or code spans)."""
        for number, line in enumerate(self.prose, start=1):
            for found in _LINK.finditer(_CODE_SPAN.sub("", line)):
                yield Link(found.group("target").strip("<>"), number)

    def headings(self) -> list[str]:
        """The text of every heading, in order, as a reader sees it (no code ticks, link text only)."""
        found = []
        for line in self.prose:
            heading = _HEADING.match(line)
            if heading:
                text = re.sub(r"!?\[([^\]]*)\]\([^)]*\)", r"\1", heading.group(2))
                found.append(text.replace("`", "").replace("**", ""))
        return found

    def anchors(self, slug: Callable[[str], str], separator: str) -> set[str]:
        """The ids ``slug`` gives this page's headings, duplicates numbered as the renderer does."""
        seen: set[str] = set()
        for heading in self.headings():
            anchor, count = slug(heading), 0
            while anchor in seen:
                count += 1
                anchor = f"{slug(heading)}{separator}{count}"
            seen.add(anchor)
        return seen


def mkdocs_slug(text: str) -> str:
    """Python-Markdown's ``toc.slugify(value, "-")``, which MkDocs uses for heading ids."""
    value = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode("ascii")
    value = re.sub(r"[^\w\s-]", "", value).strip().lower()
    return re.sub(r"[-\s]+", "-", value)


def github_slug(text: str) -> str:
    """GitHub's heading ids: lower case, punctuation but ``-`` and ``_`` dropped, each space a hyphen."""
    value = re.sub(r"[^\w\- ]", "", text.strip().lower())
    return value.replace(" ", "-")
