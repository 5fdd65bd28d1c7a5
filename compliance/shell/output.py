"""The shell's consoles: as wide as the terminal, or, piped to a file or a log, never hard-wrapped."""

from __future__ import annotations

import sys
from typing import TextIO

from rich.console import Console


def readable_console(stream: TextIO | None = None) -> Console:
    """On a terminal as wide as it is; piped to a file or a log, lines are never hard wrapped (rich would
    break them at 80 columns, in the middle of URLs and commands) and carry no colour codes."""
    stream = stream or sys.stdout
    if stream.isatty():
        return Console(file=stream)
    return Console(file=stream, soft_wrap=True, width=200, no_color=True, emoji=False)


__all__ = ["readable_console"]
