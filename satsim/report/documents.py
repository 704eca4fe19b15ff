"""The JSON documents figures and the report page are drawn from: a ``satsim run --json``
result or a ``satsim compare --json`` file, and the fields read from them (a missing one is an
error naming it)."""

from __future__ import annotations

import json
from pathlib import Path

from satsim.errors import SatsimError
from satsim.files import read_text

RUN = "satsim run --json result"
COMPARE = "satsim compare --json file"


def load_input(path: str | Path) -> tuple[str, dict]:
    """A JSON file written by ``satsim run --json`` or ``satsim compare --json``.

    Returns
    -------
    (str, dict)
        Which of the two it is (:data:`RUN` or :data:`COMPARE`) and the document.

    Raises
    ------
    SatsimError
        The file cannot be read, is not JSON, or is neither document.
    """
    text = read_text(Path(path))
    try:
        doc = json.loads(text)
    except json.JSONDecodeError as exc:
        raise SatsimError(f"not JSON (line {exc.lineno}: {exc.msg}); expected a {RUN} or a "
                          f"{COMPARE}", source=path) from None
    if isinstance(doc, dict) and str(doc.get("schema", "")).startswith("satsim.result/"):
        return RUN, doc
    if isinstance(doc, dict) and "models" in doc and "mean_speedup" in doc:
        return COMPARE, doc
    what = f"schema {doc['schema']!r}" if isinstance(doc, dict) and "schema" in doc else \
        "no 'schema' and no 'models'"
    raise SatsimError(f"neither a {RUN} nor a {COMPARE} ({what})", source=path)


def need(doc: dict, source: str, *path: str):
    """``doc[path[0]][path[1]]...``; an error naming the field if it is missing."""
    value = doc
    for i, key in enumerate(path):
        if not isinstance(value, dict) or key not in value:
            raise SatsimError("missing (is this file from an older satsim?)", source=source,
                              field=".".join(path[: i + 1]))
        value = value[key]
    return value


def run_title(doc: dict) -> str:
    """A run's title: its workload, method (and N:M) and hardware."""
    sparsity = doc.get("sparsity", "")
    method = doc.get("method", "")
    run = method if sparsity in ("dense", "") else f"{method} {sparsity}"
    return f"{doc.get('workload', '?')}, {run}, on {doc.get('hardware', '?')}"


def array_pes(doc: dict, source: str, each: bool = False) -> int:
    """The PEs of the run's MAC engine (rows x cols x count of the unit ``hardware_config``
    routes the forward GEMMs to; ``each``: of one of its instances)."""
    engine = need(doc, source, "hardware_config", "routes", "FF")
    unit = need(doc, source, "hardware_config", "units", engine)
    return int(unit["rows"]) * int(unit["cols"]) * (1 if each else int(unit.get("count", 1)))
