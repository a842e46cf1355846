"""Renderers of a `leaderboards.paper_tables.FilledTable`, one module per format."""

from __future__ import annotations

from typing import Callable

from leaderboards.paper_tables import FilledTable

# The one list of output formats: CLI name → "module:function", imported when used.
FORMATS = {
    "md": "leaderboards.formats.markdown_table:render_markdown",
    "latex": "leaderboards.formats.latex_table:render_latex",
    "csv": "leaderboards.formats.csv_table:render_csv",
    "html": "leaderboards.formats.html_table:render_html",
}


def get_renderer(name: str) -> Callable[[FilledTable], str]:
    """The render function of a format.

    Raises:
        KeyError: For an unknown format (the message lists the known ones).
    """
    import importlib

    try:
        module, _, attr = FORMATS[name].partition(":")
    except KeyError:
        raise KeyError(f"unknown table format {name!r}; known: {', '.join(FORMATS)}") from None
    return getattr(importlib.import_module(module), attr)


def render(table: FilledTable, name: str) -> str:
    """Render ``table`` in format ``name`` ("md", "latex", "csv", "html")."""
    return get_renderer(name)(table)
