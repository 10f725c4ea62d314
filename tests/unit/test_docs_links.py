"""Every relative link of README.md and docs/*.md reaches a file of the repository, and its anchor a
heading of that file (GitHub's slugs): the pages link each other by section, and a renamed heading
must not leave a dead link behind."""

from __future__ import annotations

import re
from pathlib import Path
from urllib.parse import unquote

import pytest

ROOT = Path(__file__).resolve().parents[2]
PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]

_FENCE = re.compile(r"^(```|~~~).*?^\1[ \t]*$", re.MULTILINE | re.DOTALL)
_CODE_SPAN = re.compile(r"(`+)(?:(?!\1).)+?\1", re.DOTALL)
_LINK = re.compile(r"(?<!!)\[[^\]]*\]\(([^)\s]+)(?:\s+\"[^\"]*\")?\)")
_HEADING = re.compile(r"^#{1,6}[ \t]+(.+?)[ \t]*#*[ \t]*$", re.MULTILINE)


def _prose(text: str) -> str:
    """The page without its code blocks and code spans, where brackets are not links."""
    return _CODE_SPAN.sub("", _FENCE.sub("", text))


def slug(heading: str) -> str:
    """GitHub's anchor for a heading: its text without markup, lower case, punctuation dropped
    (letters, digits, `_`, `-` and spaces stay), spaces as hyphens."""
    text = re.sub(r"\[([^\]]*)\]\([^)]*\)", r"\1", heading)  # a link keeps its text
    text = text.replace("`", "").replace("*", "").lower()
    text = re.sub(r"[^\w\- ]", "", text)
    return text.replace(" ", "-")


def anchors(page: Path) -> set[str]:
    found: set[str] = set()
    seen: dict[str, int] = {}
    for heading in _HEADING.findall(_FENCE.sub("", page.read_text())):
        base = slug(heading)
        count = seen.get(base, 0)
        seen[base] = count + 1
        found.add(base if count == 0 else f"{base}-{count}")
    return found


def links(page: Path) -> list[str]:
    return _LINK.findall(_prose(page.read_text()))


def test_the_slugs_are_github_s() -> None:
    assert slug("Without access to public.ecr.aws (air-gapped machines)") == (
        "without-access-to-publicecraws-air-gapped-machines"
    )
    assert slug("The service configuration (`SERVICE_CONFIG`)") == "the-service-configuration-service_config"
    assert slug("POST /send/preview") == "post-sendpreview"
    assert slug("The stack's parameters") == "the-stacks-parameters"


def test_every_page_links_somewhere() -> None:
    assert (ROOT / "docs").is_dir()
    assert all(links(page) for page in PAGES)


@pytest.mark.parametrize("page", PAGES, ids=lambda page: str(page.relative_to(ROOT)))
def test_every_relative_link_resolves(page: Path) -> None:
    broken: list[str] = []
    for target in links(page):
        if re.match(r"^[a-z][a-z0-9+.-]*:", target):  # https:, mailto:: not ours to check
            continue
        path, _, anchor = target.partition("#")
        file = (page.parent / unquote(path)).resolve() if path else page
        if not file.is_relative_to(ROOT):
            broken.append(f"{target}: outside the repository (a clone has nothing there)")
        elif not file.exists():
            broken.append(f"{target}: no such file")
        elif anchor and (file.suffix != ".md" or anchor not in anchors(file)):
            broken.append(f"{target}: no heading #{anchor} in {file.relative_to(ROOT)}")
    assert broken == []


@pytest.mark.parametrize("page", PAGES, ids=lambda page: str(page.relative_to(ROOT)))
def test_no_page_points_outside_the_repository(page: Path) -> None:
    assert "../shared" not in page.read_text()


def test_no_code_comment_points_outside_the_repository() -> None:
    """The contract a reader follows is docs/: a comment naming ../shared sends them where a clone has nothing."""
    sources = [
        path
        for folder in ("layers", "functions", "local", "scripts", "bench", "examples", "tests")
        for path in (ROOT / folder).rglob("*")
        if path.suffix in {".py", ".sh", ".yaml", ".toml"} and path.name != "test_docs_links.py"
    ]
    sources += [ROOT / "template.yaml", ROOT / "Makefile", ROOT / "pyproject.toml"]
    assert len(sources) > 100
    assert [str(path.relative_to(ROOT)) for path in sources if "../shared" in path.read_text(errors="replace")] == []
