"""A contact sheet: one photo rendered in every look, labelled, side by side (display-referred sRGB)."""

from __future__ import annotations

import dataclasses
import os

import numpy as np

from . import colour_math as cm
from .types import Image


def _downscale(rgb: np.ndarray, width: int) -> np.ndarray:
    """Box-average (H, W, 3) float32 to about ``width`` columns (integer factor, linear light)."""
    f = max(1, rgb.shape[1] // width)
    h, w = (rgb.shape[0] // f) * f, (rgb.shape[1] // f) * f
    return rgb[:h, :w].reshape(h // f, f, w // f, f, 3).mean(axis=(1, 3), dtype=np.float32)


def contact_sheet(path: str | os.PathLike, looks: list[str] | None = None, *, width: int = 360, cols: int = 3,
                  params=None) -> Image:
    """Render the raw file at ``path`` in each look (all listed looks by default).

    The raw is developed once to scene-linear Rec.2020, box-downscaled to ``width`` pixels per cell, then
    each look is applied to that (so grain and sharpening are at the cell's scale) and the cell labelled.
    Returns an sRGB :class:`Image` (float32, encoded) for :func:`rotpunkt.write`.
    """
    from PIL import Image as PILImage
    from PIL import ImageDraw

    from .io import read
    from .look import apply_look, list_looks, load_look
    from .params import validate
    from .pipeline import DevelopParams, scene_linear

    names = looks or [name for name, _, _ in list_looks()]
    p = validate(params or DevelopParams())
    data, meta = read(path)
    rec, _ = scene_linear(data, meta, dataclasses.replace(p, space="rec2020"))
    del data
    small = _downscale(rec, width)
    to_srgb = (cm.xyz_to_rgb_matrix("srgb") @ cm.rgb_to_xyz_matrix("rec2020")).astype(np.float32)
    label_h = 24
    ch, cw = small.shape[:2]
    rows = -(-len(names) // cols)
    sheet = PILImage.new("RGB", (cols * cw, rows * (ch + label_h)), (24, 24, 24))
    draw = ImageDraw.Draw(sheet)
    for i, name in enumerate(names):
        out = apply_look(small, load_look(name), seed=p.seed, workers=p.workers) @ to_srgb.T
        enc = cm.srgb_encode(np.clip(out, 0.0, 1.0))
        cell = PILImage.fromarray(np.round(enc * 255).astype(np.uint8))
        x, y = (i % cols) * cw, (i // cols) * (ch + label_h)
        sheet.paste(cell, (x, y))
        draw.text((x + 6, y + ch + 5), name, fill=(235, 235, 235))
    return Image(data=np.asarray(sheet, dtype=np.float32) / 255.0, space="srgb", exif=meta.exif, source=meta.path)
