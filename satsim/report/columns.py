"""Plain-text tables whose columns are as wide as their widest cell, so that neighbouring
numbers never run together however large they grow."""

from __future__ import annotations

from collections.abc import Sequence

GAP = "  "  # between two columns, always


def text_table(rows: Sequence[Sequence[str]], align: str) -> list[str]:
    """``rows`` (the header first) as lines of text.

    Parameters
    ----------
    rows
        Cells as text, one sequence per row, each as long as ``align``.
    align
        One character per column: ``<`` (text, left-aligned) or ``>`` (numbers,
        right-aligned).

    Returns
    -------
    list of str
        One line per row: every column as wide as its widest cell, :data:`GAP` between
        columns, no trailing spaces.
    """
    widths = [max(len(row[i]) for row in rows) for i in range(len(align))]
    return [GAP.join(f"{cell:{a}{w}}" for cell, a, w in zip(row, align, widths, strict=True))
            .rstrip() for row in rows]
