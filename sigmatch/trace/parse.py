"""Placeholder: the parser (issue 2) replaces this module."""

from __future__ import annotations

from sigmatch.trace.model import Report

RULES_VERSION = "0"


def parse_log(text: str) -> list[Report]:
    return []
