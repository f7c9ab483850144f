"""``rayrec reproduce TABLE``: one runner (:mod:`rayrec.tables.runner`) and one plan per
paper table, in the registry :data:`TABLES`."""

from __future__ import annotations

from rayrec.config import lookup
from rayrec.tables.hac import HAC_TABLE
from rayrec.tables.runner import Column, Table, TablePlan, run_table, summarize

#: the tables rayrec reproduces, by name
TABLES: dict[str, Table] = {t.name: t for t in (HAC_TABLE,)}


def get_table(name: str) -> Table:
    """The table called ``name``.

    Raises:
        InputError: naming the known tables.
    """
    return lookup(TABLES, name, "table", " (`rayrec reproduce --list` says what each is)")


__all__ = ["TABLES", "Column", "Table", "TablePlan", "get_table", "run_table", "summarize"]
