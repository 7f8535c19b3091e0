"""Turn a drawing or a photo of a digit into a 28x28 binary image the way MNIST digits were made.

MNIST (LeCun et al.): each digit was size-normalised to fit a 20x20 box keeping its aspect ratio
(anti-aliasing makes grey levels), then placed in a 28x28 field so that its centre of mass is at
the centre. The binarized set thresholds those grey levels; we do the same at 0.5.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
from PIL import Image, ImageOps

FIELD = 28  # output side
BOX = 20  # the digit's longer side after size normalisation
INK_THRESHOLD = 0.5  # fraction of the strongest ink that counts as a pixel on
# Pictures are shrunk to about this side before anything else: far more detail than a 20x20 box keeps,
# and a 6000x6000 photo is then read in a fraction of a second instead of many seconds.
WORKING_SIDE = 512
READABLE = "PNG, JPEG, GIF, WebP or BMP"


def reduction(width: int, height: int) -> int:
    """Integer factor that brings the longer side to at most about ``WORKING_SIDE`` (1 = keep)."""
    return max(1, math.ceil(max(width, height) / WORKING_SIDE))


def read_picture(path: str | Path) -> np.ndarray:
    """(H, W, 4) uint8 RGBA of a picture file, shrunk while it is read: JPEG decodes at 1/2 to 1/8 scale
    (``draft``), then an integer box reduction; ValueError, naming the file but no folder, when it is not a picture."""
    name = Path(path).name
    try:
        with Image.open(path) as picture:
            picture.draft(None, (WORKING_SIDE, WORKING_SIDE))
            if picture.mode not in ("L", "LA", "RGB", "RGBA"):  # palette, CMYK, 16-bit: reduce() wants plain modes
                picture = picture.convert("RGBA")
            picture = ImageOps.exif_transpose(picture.reduce(reduction(*picture.size)))  # photos taken sideways
            return np.asarray(picture.convert("RGBA"))
    except Image.DecompressionBombError:
        raise ValueError(f"{name} has too many pixels to read safely: upload a smaller picture") from None
    except (OSError, SyntaxError, ValueError):  # not a picture, truncated, or a format Pillow cannot decode
        raise ValueError(f"{name} is not a picture this tab can read: upload a {READABLE} file") from None


def shrink(image: np.ndarray) -> np.ndarray:
    """A large uint8 grey/RGB/RGBA array box-reduced like ``read_picture``; anything else is returned as it is."""
    image = np.asarray(image)
    plain = image.ndim == 2 or (image.ndim == 3 and image.shape[2] in (3, 4))
    factor = reduction(image.shape[1], image.shape[0]) if plain else 1
    if factor == 1 or image.dtype != np.uint8:
        return image
    return np.asarray(Image.fromarray(image).reduce(factor))


def ink_map(image: np.ndarray) -> np.ndarray:
    """(H, W) float ink in [0, 1] (1 = stroke) from grey, RGB or RGBA, whichever the polarity.

    Transparent pixels count as background (a sketchpad's empty canvas). The background is the
    colour of the border, so dark-on-light photos and light-on-dark MNIST-style images both work.
    """
    image = np.asarray(image)
    if image.ndim == 3 and image.shape[2] == 1:
        image = image[..., 0]
    if image.ndim not in (2, 3) or (image.ndim == 3 and image.shape[2] not in (3, 4)) or min(image.shape[:2]) < 2:
        raise ValueError(f"expected a grey, RGB or RGBA image of at least 2x2 pixels, got an array of shape {image.shape}")
    if not np.issubdtype(image.dtype, np.number) or not np.isfinite(image).all():
        raise ValueError("the image must hold finite numbers")
    pixels = image.astype(np.float64)
    if pixels.max() > 1.0:
        pixels = pixels / 255.0
    if pixels.ndim == 3:
        alpha = pixels[..., 3] if pixels.shape[2] == 4 else np.ones(pixels.shape[:2])
        grey = pixels[..., :3] @ np.array([0.299, 0.587, 0.114])
        if pixels.shape[2] == 4 and alpha.min() < 1.0:
            # On a transparent canvas the stroke is whatever is opaque, in any colour.
            return np.clip(alpha, 0.0, 1.0)
        pixels = grey
    border = np.concatenate([pixels[0], pixels[-1], pixels[:, 0], pixels[:, -1]])
    ink = np.abs(pixels - np.median(border))
    return ink


def to_mnist(image: np.ndarray) -> np.ndarray:
    """(28, 28) uint8 {0, 1} digit from an image; ValueError when there is nothing drawn."""
    ink = ink_map(shrink(image))
    strongest = ink.max()
    if strongest < 0.1:
        raise ValueError("the image is empty: draw a digit (or upload a picture of one) first")
    on = ink >= INK_THRESHOLD * strongest
    rows, cols = np.flatnonzero(on.any(1)), np.flatnonzero(on.any(0))
    crop = ink[rows[0] : rows[-1] + 1, cols[0] : cols[-1] + 1] / strongest

    height, width = crop.shape
    scale = BOX / max(height, width)
    size = (max(1, round(width * scale)), max(1, round(height * scale)))  # PIL wants (width, height)
    # BOX filtering averages every source pixel into the target: MNIST's anti-aliased grey levels.
    small = np.asarray(Image.fromarray(crop.astype(np.float32), mode="F").resize(size, Image.Resampling.BOX))
    small = np.clip(small, 0.0, 1.0)
    if small.max() <= 0:
        raise ValueError("the drawing vanished when scaled to 20x20 pixels: draw with a thicker stroke")

    field = np.zeros((FIELD, FIELD))
    ys, xs = np.indices(small.shape)
    mass = small.sum()
    centre_y, centre_x = (ys * small).sum() / mass, (xs * small).sum() / mass
    top = int(np.clip(round(FIELD / 2 - 0.5 - centre_y), 0, FIELD - small.shape[0]))
    left = int(np.clip(round(FIELD / 2 - 0.5 - centre_x), 0, FIELD - small.shape[1]))
    field[top : top + small.shape[0], left : left + small.shape[1]] = small
    digit = (field >= INK_THRESHOLD * field.max()).astype(np.uint8)
    return digit
