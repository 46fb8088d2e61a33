"""The edges: reading raw files and writing developed images. Nothing past this package opens a file."""

from __future__ import annotations

import os

import numpy as np

from ..errors import RotpunktError, UnsupportedFormat
from ..types import RawMetadata

READERS = ("auto", "dng", "libraw")
_TIFF_MAGIC = (b"II*\x00", b"MM\x00*")


def _is_tiff(path: str) -> bool:
    try:
        with open(path, "rb") as fh:
            return fh.read(4) in _TIFF_MAGIC
    except FileNotFoundError as exc:
        raise RotpunktError("file not found", path) from exc
    except IsADirectoryError as exc:
        raise RotpunktError("is a directory, not a raw file", path) from exc
    except PermissionError as exc:
        raise RotpunktError("permission denied", path) from exc


def read(path: str | os.PathLike, *, reader: str = "auto") -> tuple[np.ndarray, RawMetadata]:
    """Read a raw file: DNG through tifffile + imagecodecs, anything else through rawpy (LibRaw).

    ``reader`` forces one ("dng" or "libraw"); "auto" picks DNG for TIFF-structured files that carry a
    DNGVersion tag and LibRaw otherwise (many camera raws are TIFF-based too).
    """
    from .dng import read_dng
    from .libraw import read_libraw

    path = os.fspath(path)
    if reader not in READERS:
        from ..errors import InvalidParams

        raise InvalidParams(f"reader must be one of {', '.join(READERS)}; got {reader!r}", path)
    try:
        if os.path.getsize(path) == 0:
            from ..errors import CorruptFile

            raise CorruptFile("the file is empty", path)
    except OSError:
        pass  # not found / permission: reported below by the reader with the same clear message
    if reader == "dng":
        return read_dng(path)
    if reader == "libraw":
        return read_libraw(path)
    if _is_tiff(path):
        try:
            return read_dng(path)
        except UnsupportedFormat as exc:
            if "not a DNG" not in exc.reason:
                raise
    return read_libraw(path)
