"""The ``sigmatch`` command. Each subcommand lives in its own module of this package with a
``register(subparsers)`` function; this module only assembles them and renders errors."""

from __future__ import annotations

import argparse
import importlib
import importlib.util
import sys
from collections.abc import Sequence

from sigmatch import __version__
from sigmatch.errors import SigmatchError

# Subcommand modules, in help order. A module that is not there yet is left out.
COMMANDS = ("parse", "match", "lookup", "db", "refresh", "serve")


def build_parser(only: str | None = None) -> argparse.ArgumentParser:
    """The whole command line; ``only``: just that subcommand (a run imports its own module, not
    every command's: ``refresh`` and ``lookup`` bring in the YAML, schema and HTTP clients)."""
    parser = argparse.ArgumentParser(
        prog="sigmatch",
        description="Match a Linux kernel crash log to the known bug, its fix and the release to install.",
    )
    parser.add_argument("--version", action="version", version=f"sigmatch {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in COMMANDS if only is None else (only,):
        modname = f"sigmatch.cli.{name}_cmd"
        if importlib.util.find_spec(modname) is None:
            continue
        importlib.import_module(modname).register(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    words = list(sys.argv[1:] if argv is None else argv)
    parser = build_parser(words[0] if words and words[0] in COMMANDS else None)
    args = parser.parse_args(words)
    if not getattr(args, "func", None):
        parser.print_help()
        return 2
    try:
        rc: int = args.func(args)
        return rc
    except SigmatchError as exc:
        print(f"sigmatch: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("sigmatch: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        return 0


if __name__ == "__main__":
    sys.exit(main())
