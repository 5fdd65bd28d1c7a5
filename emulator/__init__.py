"""Local Google Workspace emulator (Gmail, Drive, Sheets, Forms, Admin Directory) over HTTPS.

Imports are lazy so ``import emulator.websites`` (and the CLI) stay light.
"""

from __future__ import annotations

from typing import Any

__all__ = ["PROJECT_METHODS", "EmulatorAdmin", "EmulatorLimits", "WorkspaceEmulator"]


def __getattr__(name: str) -> Any:
    if name == "WorkspaceEmulator":
        from emulator.server import WorkspaceEmulator

        return WorkspaceEmulator
    if name == "EmulatorLimits":
        from emulator.limits import EmulatorLimits

        return EmulatorLimits
    if name == "EmulatorAdmin":
        from emulator.admin import EmulatorAdmin

        return EmulatorAdmin
    if name == "PROJECT_METHODS":
        from emulator.methods import PROJECT_METHODS

        return PROJECT_METHODS
    raise AttributeError(f"module 'emulator' has no attribute {name!r}")
