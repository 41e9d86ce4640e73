"""Helpers shared by the subcommands: reading a log from FILE or stdin."""

from __future__ import annotations

import sys
from pathlib import Path

from sigmatch.errors import InputError
from sigmatch.textio import decode_log


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
