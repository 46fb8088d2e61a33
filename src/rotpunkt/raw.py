"""The user-facing raw image object: ``with rotpunkt.open(path) as raw: img = raw.develop()``."""

from __future__ import annotations

import os
from typing import Any

import numpy as np

from .types import Image, RawMetadata


class RawImage:
    """A raw file's stored samples plus typed metadata.

    Attributes
    ----------
    data : ndarray
        Stored samples, uncropped: (H, W) CFA mosaic or (H, W, C) LinearRaw. Treat as read-only.
    meta : RawMetadata
    """

    def __init__(self, data: np.ndarray, meta: RawMetadata):
        self.data = data
        self.meta = meta

    @property
    def path(self) -> str | None:
        return self.meta.path

    def develop(self, params: Any = None, **overrides: Any) -> Image:
        """Develop to a display-referred :class:`Image` (see :class:`rotpunkt.develop.DevelopParams`)."""
        from .pipeline import develop

        if self.data is None:
            from .errors import RotpunktError

            raise RotpunktError("the raw image was closed", self.path)
        return develop(self.data, self.meta, params, **overrides)

    def preview(self, params: Any = None, *, scale: int = 2, **overrides: Any) -> Image:
        """A fast reduced-size develop (each 2x2 CFA block one pixel, no demosaic): see
        :func:`rotpunkt.preview.preview` for what it approximates."""
        from .preview import preview

        if self.data is None:
            from .errors import RotpunktError

            raise RotpunktError("the raw image was closed", self.path)
        return preview(self.data, self.meta, params, scale=scale, **overrides)

    def close(self) -> None:
        """Release the pixel data."""
        self.data = None  # type: ignore[assignment]

    def __enter__(self) -> RawImage:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        m = self.meta
        return f"RawImage({os.path.basename(m.path or '?')!r}, {m.width}x{m.height}, {m.photometric})"


def open_raw(path: str | os.PathLike, *, reader: str = "auto") -> RawImage:
    """Open a raw file (DNG, or any LibRaw format) read-only and decode its main image."""
    from .io import read

    data, meta = read(path, reader=reader)
    return RawImage(data, meta)
