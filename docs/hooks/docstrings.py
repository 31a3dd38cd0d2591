"""griffe extension: make the docstrings render well as Markdown in the API reference.

The docstrings are written for ``help()``, the source and doctest, in NumPy
style. Two habits of that style do not survive Markdown, so this extension
rewrites them before mkdocstrings renders a docstring:

* Sphinx roles (``:func:`record```, ``:mod:`minigrad.ops```) become inline
  code; as in Sphinx, a leading ``~`` keeps only the last part of the name.
* A doctest outside an ``Examples`` section (a module docstring that opens
  with one, say) would be read as nested block quotes; it becomes a fenced
  ``pycon`` block. Examples sections are left alone: mkdocstrings renders
  their doctests itself.
"""

from __future__ import annotations

import re
from typing import Any

import griffe

ROLE = re.compile(r":(?:py:)?(?:mod|func|class|meth|attr|data|exc|obj|const):`(~?)([^`]+)`")
UNDERLINE = re.compile(r"^\s*-{3,}\s*$")


def _role_as_code(match: re.Match[str]) -> str:
    short, target = match[1], match[2]
    return f"`{target.rsplit('.', 1)[-1] if short else target}`"


def _fence_doctests(text: str) -> str:
    """Wrap every doctest paragraph outside an Examples section in a pycon fence."""
    lines = text.splitlines()
    out: list[str] = []
    in_examples = False
    i = 0
    while i < len(lines):
        line = lines[i]
        if i + 1 < len(lines) and line.strip() and UNDERLINE.match(lines[i + 1]):
            in_examples = line.strip() == "Examples"  # a section header
        starts_paragraph = i == 0 or not lines[i - 1].strip()
        if not in_examples and starts_paragraph and line.lstrip().startswith(">>>"):
            end = i
            while end < len(lines) and lines[end].strip():
                end += 1
            out += ["```pycon", *lines[i:end], "```"]
            i = end
            continue
        out.append(line)
        i += 1
    return "\n".join(out)


def _rewrite(obj: griffe.Object) -> None:
    if obj.docstring is not None:
        text = ROLE.sub(_role_as_code, obj.docstring.value)
        obj.docstring.value = _fence_doctests(text)


class MarkdownDocstrings(griffe.Extension):
    """Rewrite Sphinx roles and loose doctests in every docstring of a package."""

    def on_package(self, *, pkg: griffe.Module, **kwargs: Any) -> None:
        _rewrite(pkg)  # on_object below is called for the members only

    def on_object(self, *, obj: griffe.Object, **kwargs: Any) -> None:
        _rewrite(obj)
