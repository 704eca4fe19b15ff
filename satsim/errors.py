"""The one family of user-facing errors.

Anything the user can get wrong (a config file, a trace, a command-line value) raises a
:class:`SatsimError` whose message names the file, the field and the reason. The CLI prints it
as one ``error: ...`` line and exits with status 2; programming errors still raise normally.
"""

from __future__ import annotations

from pathlib import Path


def one_line(text: str) -> str:
    """``text`` with line breaks escaped: user input echoed in a message must not split it."""
    return text.replace("\r", "\\r").replace("\n", "\\n")


class SatsimError(Exception):
    """A problem with the user's input, with a message fit to show as is (one line)."""

    def __init__(self, message: str, *, source: str | Path | None = None, field: str | None = None):
        parts = [str(p) for p in (source, field) if p not in (None, "")]
        super().__init__(one_line(": ".join([*parts, message])))
        self.source = None if source is None else str(source)
        self.field = field
