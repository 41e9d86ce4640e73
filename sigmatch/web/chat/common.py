"""Request helpers shared by the Slack and Mattermost views."""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import parse_qs

from flask import request

from sigmatch.web.errors import ApiError

MAX_FIELDS = 100  # form fields accepted in one chat request


def read_body(max_bytes: int) -> bytes:
    """The raw request body (needed as-is for signatures), 413 above ``max_bytes``."""
    length = request.content_length
    if length is not None and length > max_bytes:
        raise ApiError(413, "too_large", f"request body is {length} bytes, more than the limit of {max_bytes}")
    data = request.stream.read(max_bytes + 1)
    if len(data) > max_bytes:
        raise ApiError(413, "too_large", f"request body is more than the limit of {max_bytes} bytes")
    return data


def parse_form(body: bytes) -> dict[str, str]:
    """An ``application/x-www-form-urlencoded`` body as a flat dict (first value of each field)."""
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError:
        raise ApiError(400, "bad_form", "the form body is not UTF-8") from None
    try:
        pairs = parse_qs(text, keep_blank_values=True, max_num_fields=MAX_FIELDS)
    except ValueError:
        raise ApiError(400, "bad_form", "the form body has too many fields or cannot be read") from None
    return {k: v[0] for k, v in pairs.items() if v}


def parse_json_object(body: bytes) -> dict[str, Any]:
    try:
        doc = json.loads(body)
    except (ValueError, RecursionError):
        raise ApiError(400, "bad_json", "the body is not valid JSON") from None
    if not isinstance(doc, dict):
        raise ApiError(400, "bad_json", "the body must be a JSON object")
    return doc


def is_http_url(value: str) -> bool:
    return value.startswith(("https://", "http://")) and len(value) < 2048 and " " not in value
