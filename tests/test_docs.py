"""The documentation's code runs: every Python example in ``docs/`` is executed.

Each page under ``docs/`` is one test. Its fenced code blocks tagged
``python``, ``py`` or ``pycon`` run in order, in one fresh namespace per page
(so a later block may use the names an earlier one defined):

* a block whose first line starts with ``>>>`` is a doctest: its expected
  output must match (``ELLIPSIS`` and ``NORMALIZE_WHITESPACE`` are on);
* a block with a ``title="..."`` (shown above the block on the site) is an
  excerpt of the file it names, e.g. a line to add to ``minigrad/vjps.py``:
  it cannot run on its own, so it is only compiled, which catches syntax
  errors;
* any other block is executed as a script and must not raise.

Blocks in other languages (``bash``, ``text``, ``json``, ``toml`` …) are not
run. A failure names the page and the line of the block.

Two cheaper checks keep the site and the notebooks in order: every page and
every notebook is listed in the ``nav`` of ``mkdocs.yml``, and notebooks are
stored without outputs (CI executes them with nbmake).
"""

from __future__ import annotations

import doctest
import json
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from minigrad import engine, forward

ROOT = Path(__file__).resolve().parents[1]
DOCS = ROOT / "docs"
NOTEBOOKS = ROOT / "notebooks"
RUNNABLE_LANGUAGES = {"python", "py", "pycon"}
TITLE = re.compile(r'title="([^"]*)"')

# An opening fence (``` or ~~~, three or more), its info string, the body, and
# the matching closing fence at the same indentation.
FENCE = re.compile(
    r"^(?P<indent>[ \t]*)(?P<fence>`{3,}|~{3,})[ \t]*(?P<info>[^\n`]*)\n"
    r"(?P<body>.*?)"
    r"^(?P=indent)(?P=fence)[ \t]*$",
    re.MULTILINE | re.DOTALL,
)

DOCTEST_FLAGS = doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE


@dataclass(frozen=True)
class Block:
    """One runnable code block of a page."""

    page: Path
    line: int  # 1-based line of the block's first code line
    code: str
    excerpt_of: str | None = None  # the file named by the block's title, if any

    @property
    def is_doctest(self) -> bool:
        return self.code.lstrip().startswith(">>>")

    @property
    def label(self) -> str:
        page = self.page.relative_to(ROOT) if self.page.is_relative_to(ROOT) else self.page
        return f"{page.as_posix()}:{self.line}"


def code_blocks(page: Path) -> Iterator[Block]:
    """The runnable blocks of ``page``, in order, with their indentation removed."""
    text = page.read_text(encoding="utf-8")
    for match in FENCE.finditer(text):
        info = match["info"].strip()
        language = info.split()[0].lstrip(".{").rstrip("}").lower() if info else ""
        if language not in RUNNABLE_LANGUAGES:
            continue
        indent = match["indent"]
        lines = match["body"].splitlines()
        code = "\n".join(line.removeprefix(indent) for line in lines) + "\n"
        first_line = text.count("\n", 0, match.start("body")) + 1
        title = TITLE.search(info)
        yield Block(page, first_line, code, title[1] if title else None)


def run_block(block: Block, namespace: dict[str, object]) -> None:
    """Run one block in ``namespace``; fail the test with the block's location."""
    if block.excerpt_of is not None:
        # Line numbers in a syntax error point into the page.
        compile("\n" * (block.line - 1) + block.code, str(block.page), "exec")
    elif block.is_doctest:
        test = doctest.DocTestParser().get_doctest(
            block.code, namespace, block.label, str(block.page), block.line - 1
        )
        report: list[str] = []
        runner = doctest.DocTestRunner(optionflags=DOCTEST_FLAGS)
        runner.run(test, out=report.append, clear_globs=False)
        namespace.update(test.globs)  # DocTest works on a copy of the namespace
        if runner.failures:
            pytest.fail(f"doctest failed in {block.label}\n" + "".join(report), pytrace=False)
    else:
        exec(compile(block.code, block.label, "exec"), namespace)


PAGES = sorted(DOCS.rglob("*.md"))


@pytest.fixture
def restore_derivative_table() -> Iterator[None]:
    """Pages may register example primitives; take them out again afterwards."""
    tables = [
        engine.vjp_rules,
        engine.argnum_vjp_rules,
        forward.jvp_rules,
        forward.argnum_jvp_rules,
    ]
    saved = [table.copy() for table in tables]
    yield
    for table, before in zip(tables, saved, strict=True):
        table.clear()
        table.update(before)


@pytest.mark.usefixtures("restore_derivative_table")
@pytest.mark.parametrize("page", PAGES, ids=[p.relative_to(DOCS).as_posix() for p in PAGES])
def test_page_examples_run(page: Path) -> None:
    namespace: dict[str, object] = {"__name__": f"docs.{page.stem}"}
    for block in code_blocks(page):
        run_block(block, namespace)


def test_the_docs_have_examples() -> None:
    """Guard the collector itself: the tour alone has many runnable blocks."""
    assert PAGES, "no Markdown pages found under docs/"
    assert len(list(code_blocks(DOCS / "minigrad" / "tour.md"))) >= 5


def test_collector_reads_fences_and_doctests(tmp_path: Path) -> None:
    page = tmp_path / "page.md"
    page.write_text(
        "Text.\n\n```python\nx = 2\n```\n\n```bash\nexit 1\n```\n\n"
        "- item\n\n    ```pycon\n    >>> x + 1\n    3\n    ```\n\n"
        '```python title="pkg/mod.py"\ndef f(x: Missing) -> None: ...\n```\n',
        encoding="utf-8",
    )
    blocks = list(code_blocks(page))
    assert [(b.code, b.is_doctest, b.excerpt_of) for b in blocks] == [
        ("x = 2\n", False, None),
        (">>> x + 1\n3\n", True, None),
        ("def f(x: Missing) -> None: ...\n", False, "pkg/mod.py"),
    ]
    namespace: dict[str, object] = {}
    for block in blocks:
        run_block(block, namespace)
    assert namespace["x"] == 2


def test_nav_lists_every_page_and_notebook() -> None:
    config = (ROOT / "mkdocs.yml").read_text(encoding="utf-8")
    listed = set(re.findall(r":\s*(\S+\.(?:md|ipynb))\s*$", config, re.MULTILINE))
    pages = {p.relative_to(DOCS).as_posix() for p in PAGES}
    notebooks = {p.relative_to(ROOT).as_posix() for p in NOTEBOOKS.glob("*.ipynb")}
    assert sorted((pages | notebooks) - listed) == []
    assert sorted(listed - pages - notebooks) == []


@pytest.mark.parametrize("notebook", sorted(NOTEBOOKS.glob("*.ipynb")), ids=lambda p: p.name)
def test_notebook_is_stored_without_outputs(notebook: Path) -> None:
    cells = json.loads(notebook.read_text(encoding="utf-8"))["cells"]
    dirty = [
        i
        for i, cell in enumerate(cells)
        if cell["cell_type"] == "code" and (cell.get("outputs") or cell.get("execution_count"))
    ]
    assert dirty == [], f"{notebook.name}: cells {dirty} keep outputs; strip them before committing"
