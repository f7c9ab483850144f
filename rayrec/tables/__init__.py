"""``rayrec reproduce NAME``: one runner (:mod:`rayrec.tables.runner`) and one plan per
paper table, in the registry :data:`TABLES`, and the paper's parameter studies
(:mod:`rayrec.tables.studies`), in :data:`STUDIES` — with the tables whose rows are
one algorithm's settings (``ddpg-la-table``: the DDPG-LA variants), which run as
studies."""

from __future__ import annotations

from rayrec.config import lookup
from rayrec.tables.cal4rec import CAL4REC_ABLATION, CAL4REC_TABLE
from rayrec.tables.ddpg_la import DDPG_LA_TABLE
from rayrec.tables.hac import HAC_TABLE
from rayrec.tables.lsrwrl import LSRWRL_TABLE
from rayrec.tables.runner import Column, Table, TablePlan, run_table, summarize
from rayrec.tables.studies import STUDIES as PARAMETER_STUDIES
from rayrec.tables.studies import Study, StudyPlan, run_study

#: the tables rayrec reproduces, by name
TABLES: dict[str, Table] = {
    t.name: t for t in (HAC_TABLE, LSRWRL_TABLE, CAL4REC_TABLE, CAL4REC_ABLATION)
}
#: the studies rayrec runs: the parameter studies and the tables of one algorithm's variants
STUDIES: dict[str, Study] = {**PARAMETER_STUDIES, DDPG_LA_TABLE.name: DDPG_LA_TABLE}

#: the hint of an unknown name's error
_HINT = " (`rayrec reproduce --list` says what each is)"


def get_table(name: str) -> Table:
    """The table called ``name``.

    Raises:
        InputError: naming the known tables.
    """
    return lookup(TABLES, name, "table", _HINT)


def get_reproduction(name: str) -> Table | Study:
    """The table or study called ``name``.

    Raises:
        InputError: naming the known tables and studies.
    """
    known: dict[str, Table | Study] = {**TABLES, **STUDIES}
    return lookup(known, name, "table or study", _HINT)


__all__ = [
    "STUDIES",
    "TABLES",
    "Column",
    "Study",
    "StudyPlan",
    "Table",
    "TablePlan",
    "get_reproduction",
    "get_table",
    "run_study",
    "run_table",
    "summarize",
]
