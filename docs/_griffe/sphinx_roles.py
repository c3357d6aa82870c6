"""Griffe extension for the docs build: render Sphinx roles of the docstrings as inline code.

The provider's docstrings use Sphinx field lists (``:param x:``), which the sphinx docstring parser
understands, and a few Sphinx roles in prose (``:class:`OneAtlasError```), which Markdown would
show verbatim. This turns ``:class:`~pkg.mod.Name``` into ``Name`` and ``:func:`pkg.f``` into
``pkg.f``, as inline code.

Not part of the provider: used only by ``mkdocs.yml``.
"""

from __future__ import annotations

import re
from typing import Any

from griffe import Extension, Module, Object

_ROLE = re.compile(r":(?:py:)?(?:class|func|meth|mod|attr|exc|data|obj|const):`(~?)([^`]+)`")


def _replace(match: re.Match[str]) -> str:
    short, target = match.group(1), match.group(2).strip()
    return f"`{target.rsplit('.', 1)[-1] if short else target}`"


def _objects(root: Object) -> list[Object]:
    found: list[Object] = []
    stack: list[Object] = [root]
    while stack:
        obj = stack.pop()
        found.append(obj)
        stack.extend(member for member in obj.members.values() if not member.is_alias)
    return found


class SphinxRolesAsCode(Extension):
    def on_package(self, *, pkg: Module, **kwargs: Any) -> None:
        for obj in _objects(pkg):
            if obj.docstring is not None and ":`" in obj.docstring.value:
                obj.docstring.value = _ROLE.sub(_replace, obj.docstring.value)
