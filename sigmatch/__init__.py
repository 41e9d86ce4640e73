"""sigmatch: from a Linux kernel crash log to the known bug, its fix and the release to install.

The public surface, kept small::

    parse_log(text) -> list[Report]          every crash report in a console log, primary first
    signature_of(report) -> Signature        what the matcher compares
"""

from __future__ import annotations

__version__ = "0.1.0"

from sigmatch.trace.model import Frame, Kind, Report
from sigmatch.trace.parse import RULES_VERSION, parse_log
from sigmatch.trace.signature import Signature, signature_of

__all__ = [
    "RULES_VERSION",
    "Frame",
    "Kind",
    "Report",
    "Signature",
    "__version__",
    "parse_log",
    "signature_of",
]
