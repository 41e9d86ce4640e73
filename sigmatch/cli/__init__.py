"""The ``sigmatch`` command. Each subcommand lives in its own module of this package with a
``register(subparsers)`` function; this module only assembles them and renders errors."""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence

from sigmatch import __version__
from sigmatch.config import Settings
from sigmatch.errors import SigmatchError

# Subcommand modules (sigmatch.cli.<name>_cmd), in help order.
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
        importlib.import_module(f"sigmatch.cli.{name}_cmd").register(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    words = list(sys.argv[1:] if argv is None else argv)
    parser = build_parser(words[0] if words and words[0] in COMMANDS else None)
    args = parser.parse_args(words)
    if not getattr(args, "func", None):
        parser.print_help()
        return 2
    try:
        args.settings = Settings.from_env()  # read once; a bad value stops here, naming the setting
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
