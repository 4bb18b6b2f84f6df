"""Errors that end a run with a one-line message and a chosen exit status."""
from __future__ import annotations


class HexrouteError(Exception):
    """Base class: ``exit_status`` is what the command line returns."""

    exit_status = 1


class InputError(HexrouteError):
    """Unreadable input, a missing required column, or bad usage (exit status 2)."""

    exit_status = 2


class SettingsError(InputError):
    """A settings file or value that cannot be used (exit status 2)."""


class Terminated(KeyboardInterrupt):
    """SIGTERM, raised in the main thread and handled as Ctrl-C is: every ``finally`` and ``except
    BaseException`` runs (temporary outputs removed, a local cluster stopped); the command exits 143."""


def first_line(exc: BaseException) -> str:
    """The first line of an exception's message (its type name when it has none): error texts stay one line."""
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__
