"""Helpers shared by the subcommands: the settings and runtime of this run, reading a log from FILE or stdin."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from sigmatch.config import Settings
from sigmatch.errors import InputError
from sigmatch.runtime import Runtime, build_runtime
from sigmatch.textio import decode_log


def settings_of(args: argparse.Namespace) -> Settings:
    """The settings :func:`sigmatch.cli.main` read once from the environment."""
    settings: Settings | None = getattr(args, "settings", None)
    if settings is None:
        settings = args.settings = Settings.from_env()
    return settings


def runtime_of(args: argparse.Namespace) -> Runtime:
    """This run's runtime (store, jobs, upstream cache), built once from :func:`settings_of`."""
    runtime: Runtime | None = getattr(args, "runtime", None)
    if runtime is None:
        runtime = args.runtime = build_runtime(settings_of(args))
    return runtime


def read_log(path: str | None) -> str:
    """Read FILE, or standard input for ``-``/None, and decode it as a console log."""
    if path in (None, "-"):
        data = sys.stdin.buffer.read()
    else:
        p = Path(path)
        try:
            data = p.read_bytes()
        except FileNotFoundError as exc:
            raise InputError(f"{path}: no such file", reason="not_found") from exc
        except IsADirectoryError as exc:
            raise InputError(f"{path}: is a directory", reason="invalid") from exc
        except OSError as exc:
            raise InputError(f"{path}: {exc.strerror}", reason="invalid") from exc
    return decode_log(data)
