"""Griffe extension for the docs build: render the docstrings' Sphinx roles as code.

The package's numpydoc docstrings cross-reference with Sphinx roles (``:func:`score_fasta```,
``:mod:`.outputs```), which Markdown would show literally. This turns each into inline code
(``score_fasta``); the leading ``~`` of a role, which Sphinx uses to shorten the name, is dropped.
"""

from __future__ import annotations

import re
from typing import Any

import griffe

_ROLE = re.compile(r":(?:py:)?(?:mod|func|class|meth|attr|data|obj|exc|const):`~?([^`]+)`")


class SphinxRoles(griffe.Extension):
    """Rewrite ``:role:`name``` to ``name`` in every docstring griffe loads."""

    def on_instance(self, *, obj: griffe.Object, **kwargs: Any) -> None:
        if obj.docstring is not None and ":`" in obj.docstring.value:
            obj.docstring.value = _ROLE.sub(r"`\1`", obj.docstring.value)
