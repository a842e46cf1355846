"""Renderers of a `leaderboards.paper_tables.FilledTable`, one module per format."""

from __future__ import annotations

from typing import Callable

from hcvg.registry import Registry
from leaderboards.paper_tables import FilledTable

Renderer = Callable[[FilledTable], str]

TABLE_FORMATS: Registry[Renderer] = Registry("table format")

# The one list of output formats (the choices of `hcvg tables --format`), imported when used.
TABLE_FORMATS.register("md", "leaderboards.formats.markdown_table:render_markdown")
TABLE_FORMATS.register("latex", "leaderboards.formats.latex_table:render_latex")
TABLE_FORMATS.register("csv", "leaderboards.formats.csv_table:render_csv")
TABLE_FORMATS.register("html", "leaderboards.formats.html_table:render_html")


def get_renderer(name: str) -> Renderer:
    """The render function of a format.

    Raises:
        UnknownNameError: For an unknown format (a `KeyError`; the message lists the
            known ones and close matches).
    """
    return TABLE_FORMATS.get(name)


def render(table: FilledTable, name: str) -> str:
    """Render ``table`` in the format registered as ``name`` ("md", "latex", "csv", "html")."""
    return get_renderer(name)(table)
