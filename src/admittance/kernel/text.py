"""Checks on text every context shares. Regular expressions, not per-character Python loops: bulk
import checks millions of characters (measured: the loops were most of reading a manifest)."""

from __future__ import annotations

import re

_CONTROL = re.compile("[\x00-\x1f\x7f]")
_CONTROL_OR_C1 = re.compile("[\x00-\x1f\x7f-\x9f]")


def has_control_chars(text: str, *, c1: bool = False) -> bool:
    """C0 controls and DEL; with `c1`, also the C1 controls U+0080-U+009F."""
    return (_CONTROL_OR_C1 if c1 else _CONTROL).search(text) is not None
