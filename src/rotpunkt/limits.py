"""Resource limits for reading untrusted raw files.

A raw file declares its own image size, tile geometry, tag counts and IFD structure; a hostile or damaged
file can declare anything. The readers compare every such number with these limits *before* allocating
memory or decoding, and raise :class:`LimitExceeded` (an :class:`~rotpunkt.errors.UnsupportedFormat`)
naming the file, the number and the limit.

Defaults: 500 megapixels and 4 GiB of decoded samples per image (the largest phone and camera raws
today are about 200 MP and 0.8 GB); at most 4096 entries per IFD (tifffile's own bound), 256 IFDs per
file, SubIFDs nested at most 4 deep (DNG files use 1), and 4 Mi values per numeric tag.

The limits in force are process wide::

    import rotpunkt.limits as rl

    rl.current()                          # Limits(max_pixels=500000000, ...)
    with rl.override(max_pixels=50_000_000):
        rotpunkt.open(path)               # refuses anything over 50 MP inside the block
    rl.set_limits(max_decoded_bytes=8 << 30)   # from now on (returns the previous Limits)

They are a plain module setting rather than a context variable so that worker threads of the decoders see
them too; ``override`` is therefore not meant to be used from several threads at once with different
values.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

from .errors import InvalidParams, UnsupportedFormat
from .params import param, validate
from .params import replace as replace_params

__all__ = ["Limits", "LimitExceeded", "DEFAULT", "current", "set_limits", "override"]


class LimitExceeded(UnsupportedFormat):
    """A file declares more than the configured :class:`Limits` allow (image size, tags, IFDs...)."""


@dataclass(frozen=True)
class Limits:
    """What a raw file may declare before rotpunkt refuses to read it."""

    max_pixels: int = param(500_000_000, unit="pixels", range=(1, 2**48),
                            doc="largest image (width x height) decoded")
    max_decoded_bytes: int = param(4 * 2**30, unit="bytes", range=(1, 2**50),
                                   doc="largest decoded sample buffer (width x height x samples x bytes)")
    max_ifd_entries: int = param(4096, unit="entries", range=(1, 65535), doc="most entries in one IFD")
    max_ifds: int = param(256, unit="IFDs", range=(1, 65536), doc="most IFDs (directories) in one file")
    max_ifd_depth: int = param(4, unit="levels", range=(1, 64), doc="deepest SubIFD nesting")
    max_tag_values: int = param(4 * 2**20, unit="values", range=(1, 2**32),
                                doc="most values in one numeric tag")

    def __post_init__(self):
        for f in dataclasses.fields(self):
            v = getattr(self, f.name)
            if isinstance(v, bool) or not isinstance(v, int):
                raise InvalidParams(f"Limits.{f.name} must be an integer; got {v!r}")
        validate(self)


DEFAULT = Limits()
_current = DEFAULT


def current() -> Limits:
    """The limits in force."""
    return _current


def set_limits(limits: Limits | None = None, /, **changes: int) -> Limits:
    """Put ``limits`` (or the current limits with ``changes``) in force; return the previous ones.

    ``set_limits(DEFAULT)`` restores the defaults. Raises InvalidParams for a non-positive or unknown limit.
    """
    global _current
    new = limits if limits is not None else _current
    if not isinstance(new, Limits):
        raise InvalidParams(f"expected a Limits, got {type(new).__name__}")
    new = replace_params(new, changes, "limit")
    previous, _current = _current, new
    return previous


@contextmanager
def override(limits: Limits | None = None, /, **changes: int) -> Iterator[Limits]:
    """Context manager: ``limits`` (or the current ones with ``changes``) in force inside the block."""
    previous = set_limits(limits, **changes)
    try:
        yield _current
    finally:
        set_limits(previous)
