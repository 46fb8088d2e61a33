"""rotpunkt: an open raw developer for smartphone photos.

    import rotpunkt
    with rotpunkt.open("IMG_0001.dng") as raw:
        img = raw.develop(space="p3")
    rotpunkt.write(img, "IMG_0001.jpg", quality=95)
"""

from __future__ import annotations

from .errors import (
    CorruptFile,
    InvalidParams,
    MissingImageData,
    RotpunktError,
    RotpunktWarning,
    UnsupportedFormat,
)
from .raw import RawImage
from .raw import open_raw as open  # noqa: A001 - the verb users expect, like imageio/rawpy
from .types import Image, RawMetadata

__version__ = "0.1.0"

__all__ = [
    "CorruptFile", "DevelopParams", "Image", "InvalidParams", "MissingImageData", "RawImage", "RawMetadata",
    "RotpunktError", "RotpunktWarning", "UnsupportedFormat", "WriteError", "develop", "open", "write", "sample_path",
]


def develop(path, params=None, **overrides) -> Image:
    """Open ``path`` and develop it in one call."""
    with open(path) as raw:
        return raw.develop(params, **overrides)


def write(image: Image, path, **kwargs):
    """Write a developed image (JPEG, 16-bit TIFF or PNG; see :func:`rotpunkt.io.write.write`)."""
    from .io.write import write as _write

    return _write(image, path, **kwargs)


def sample_path() -> str:
    """Path of the small DNG bundled with the package (see rotpunkt/data/README)."""
    from importlib.resources import files

    return str(files("rotpunkt") / "data" / "sample.dng")


def __getattr__(name: str):
    if name == "DevelopParams":
        from .pipeline import DevelopParams

        return DevelopParams
    raise AttributeError(name)
