"""Typed errors. Every error names the file (when there is one) and the reason."""

from __future__ import annotations

import os


class RotpunktError(Exception):
    """Base class of every error rotpunkt raises on purpose.

    Parameters
    ----------
    reason : str
        What is wrong, in words a photographer can act on.
    path : str or os.PathLike, optional
        The file the error is about.
    """

    def __init__(self, reason: str, path: str | os.PathLike | None = None):
        self.reason = reason
        self.path = os.fspath(path) if path is not None else None
        super().__init__(f"{self.path}: {reason}" if self.path else reason)


class UnsupportedFormat(RotpunktError):
    """The file is readable but uses a feature or format rotpunkt does not handle."""


class CorruptFile(RotpunktError):
    """The file is damaged: truncated, inconsistent tags, undecodable data."""


class MissingImageData(CorruptFile):
    """The file's metadata is present but its raw pixel data is absent or truncated."""


class WriteError(RotpunktError):
    """The output file could not be written: missing folder, no permission, disk full, encoder failure."""


class InvalidParams(RotpunktError):
    """A parameter is out of range, of the wrong type, or not one of the allowed choices."""


def with_path(err: RotpunktError, path: str | os.PathLike) -> RotpunktError:
    """Return a copy of ``err`` that names ``path`` (used when a pure stage raised without one)."""
    if err.path is not None:
        return err
    return type(err)(err.reason, path)


class RotpunktWarning(UserWarning):
    """Something was skipped or approximated, e.g. an optional DNG opcode rotpunkt does not know."""
