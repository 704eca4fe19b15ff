"""The ``satsim`` command: parses arguments, calls the API, prints. Nothing else."""

from __future__ import annotations

import argparse
import contextlib
import os
import sys
import warnings

# Only light imports here: `satsim --help` and `satsim list` must not pay for pandas, numpy or
# the config models. Each command imports what it needs.
from satsim.cli.commands import COMMANDS
from satsim.cli.parser import build_parser, check_names
from satsim.errors import SatsimError, one_line
from satsim.resources import ShadowWarning


def _cache(args: argparse.Namespace) -> contextlib.AbstractContextManager:
    """--no-cache: the schedule cache off for this command and the processes it starts."""
    if not getattr(args, "no_cache", False):
        return contextlib.nullcontext()
    from satsim.search.cache import caching_off

    return caching_off()


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command is None:  # nothing to do is a usage error
        parser.print_help(sys.stderr)
        return 2
    try:
        check_names(args)
        with warnings.catch_warnings(), _cache(args):
            python_show = warnings.showwarning

            def show(message, category, *where):  # satsim's own: one `warning:` line
                if not issubclass(category, ShadowWarning):
                    return python_show(message, category, *where)
                print(f"warning: {one_line(str(message))}", file=sys.stderr)

            warnings.showwarning = show
            warnings.simplefilter("default", ShadowWarning)  # once per run each, whatever -W says
            return COMMANDS[args.command](args)
    except SatsimError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("error: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        # The reader went away (`satsim run | head -1`): stop quietly, like any filter.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0

