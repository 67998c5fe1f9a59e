"""The documentation a newcomer reads: a README short enough to read top to bottom, and links that
lead somewhere inside this repository (README.md, CONTRIBUTING.md, docs/)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from tests.support.stack import ROOT

README = ROOT / "README.md"
DOCS = sorted([README, ROOT / "CONTRIBUTING.md", *(ROOT / "docs").rglob("*.md")])

#: `[text](target)` and `[text](target "title")`; images too (`![alt](target)`).
INLINE_LINK = re.compile(r"!?\[[^\]]*\]\(\s*<?([^)\s>]+)>?(?:\s+\"[^\"]*\")?\s*\)")
#: `[label]: target`
REFERENCE_LINK = re.compile(r"^\s{0,3}\[[^\]]+\]:\s*<?(\S+?)>?(?:\s|$)", re.M)
FENCE = re.compile(r"^\s*(```|~~~)")
EXTERNAL = re.compile(r"^[a-z][a-z0-9+.-]*:", re.I)  # https:, mailto:, ...


def unfenced(path: Path) -> list[str]:
    """The file's lines outside fenced code blocks."""
    lines, fenced = [], False
    for line in path.read_text().splitlines():
        if FENCE.match(line):
            fenced = not fenced
        elif not fenced:
            lines.append(line)
    return lines


def prose(path: Path) -> str:
    """The file without its code blocks and inline code: where a link is a link."""
    return "\n".join(re.sub(r"`[^`]*`", "", line) for line in unfenced(path))


def relative_links(path: Path) -> list[str]:
    text = prose(path)
    targets = INLINE_LINK.findall(text) + REFERENCE_LINK.findall(text)
    return [target for target in targets if not EXTERNAL.match(target)]


def anchors(path: Path) -> set[str]:
    """The anchors GitHub gives the file's headings."""
    seen: dict[str, int] = {}
    found = set()
    for line in unfenced(path):
        heading = re.match(r"^#{1,6}\s+(.*?)\s*#*\s*$", line)
        if not heading:
            continue
        slug = re.sub(r"[^\w\- ]", "", heading.group(1).lower()).replace(" ", "-")  # inline code keeps its text
        count = seen.get(slug, 0)
        seen[slug] = count + 1
        found.add(slug if count == 0 else f"{slug}-{count}")
    return found


def name(path: Path) -> str:
    return str(path.relative_to(ROOT))


def test_the_readme_is_read_top_to_bottom():
    assert len(README.read_text().splitlines()) < 200


@pytest.mark.parametrize("path", DOCS, ids=name)
def test_nothing_points_outside_the_repository(path):
    text = path.read_text()
    assert "../shared" not in text
    assert "/work/" not in text


@pytest.mark.parametrize("path", DOCS, ids=name)
def test_every_relative_link_leads_to_a_file_of_the_repository(path):
    broken = []
    for target in relative_links(path):
        file_part, _, anchor = target.partition("#")
        resolved = (path.parent / file_part).resolve() if file_part else path
        if not resolved.is_relative_to(ROOT) or not resolved.exists():
            broken.append(f"{target}: no such file in the repository")
        elif anchor and resolved.suffix == ".md" and anchor not in anchors(resolved):
            broken.append(f"{target}: no heading #{anchor} in {name(resolved)}")
    assert not broken, f"{name(path)}: " + "; ".join(broken)


def test_the_link_checker_sees_links(tmp_path):
    page = tmp_path / "page.md"
    page.write_text(
        "# A page\n## With `code.py`\n[x](a.md) ![y](img/b.png) [web](https://example.com) [here](#a-page)\n"
        "`[not](code.md)`\n```\n[not](fenced.md)\n```\n[ref]: ../c.md\n"
    )
    assert relative_links(page) == ["a.md", "img/b.png", "#a-page", "../c.md"]
    assert anchors(page) == {"a-page", "with-codepy"}
