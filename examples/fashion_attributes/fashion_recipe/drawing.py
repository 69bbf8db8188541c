"""Drawing one synthetic fashion image: a figure wearing a garment whose look follows its 6 labels.

See :mod:`.synthetic` for what each attribute looks like and how the dataset is laid out; this
module holds the palettes, the fabric textures and :func:`render_image`.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from functools import lru_cache

import numpy as np
from PIL import Image, ImageChops, ImageDraw

ASPECT = 0.75  # width / height, portrait like the course images

# Attribute indices, named for readability (order of task.ATTRIBUTES).
FLORAL, GRAPHIC, STRIPED, EMBROIDERED, PLEATED, SOLID, LATTICE = range(7)
LONG_SLEEVE, SHORT_SLEEVE, SLEEVELESS = range(3)
MAXI, MINI, NO_DRESS = range(3)
CREW, V_NECK, SQUARE, NO_NECKLINE = range(4)
DENIM, CHIFFON, COTTON, LEATHER, FAUX, KNIT = range(6)
TIGHT, LOOSE, CONVENTIONAL = range(3)

SKIN = np.array([(255, 224, 196), (240, 200, 160), (198, 150, 110), (150, 105, 70), (95, 65, 45)])
HAIR = np.array([(30, 25, 20), (90, 60, 30), (200, 170, 110), (120, 40, 20), (60, 60, 60)])
TROUSERS = np.array([(35, 40, 70), (30, 30, 30), (110, 110, 115), (170, 150, 110), (70, 50, 40)])
DENIM_COLOURS = np.array([(60, 90, 150), (40, 60, 110), (95, 125, 175), (30, 45, 80)])
COTTON_COLOURS = np.array(
    [
        (200, 45, 45),
        (45, 140, 70),
        (230, 200, 60),
        (240, 240, 235),
        (130, 130, 130),
        (150, 70, 165),
        (240, 135, 45),
        (230, 125, 165),
        (45, 45, 45),
        (60, 170, 170),
    ]
)
LEATHER_COLOURS = np.array([(25, 22, 20), (60, 35, 20), (45, 25, 25), (35, 35, 40)])
FAUX_COLOURS = np.array([(210, 190, 160), (140, 100, 70), (235, 235, 230), (120, 120, 120)])
KNIT_COLOURS = np.array(
    [(225, 215, 190), (150, 150, 155), (120, 35, 50), (60, 100, 60), (50, 60, 100)]
)
ACCENTS = np.array(
    [(220, 30, 60), (250, 210, 40), (30, 110, 220), (250, 250, 250), (20, 20, 20), (40, 180, 90)]
)
FIT_FACTOR = {TIGHT: 0.72, LOOSE: 1.4, CONVENTIONAL: 1.0}




# ------------------------------------------------------------------------------------ images
@lru_cache(maxsize=8)
def _grid(height: int, width: int) -> tuple[np.ndarray, np.ndarray]:
    yy, xx = np.mgrid[0:height, 0:width].astype(np.float32)
    return yy, xx


@lru_cache(maxsize=8)
def _noise_bank(height: int, width: int) -> np.ndarray:
    """A fixed ``(2H, 2W)`` table of standard normal noise; images crop it at random offsets.

    Drawing fresh noise for every pixel of every image dominated the run time; cropping a fixed
    table (built from a fixed seed, so runs stay reproducible) is as good for a nuisance.
    """
    rng = np.random.default_rng(20240329)
    return rng.standard_normal((2 * height, 2 * width), dtype=np.float32)


def _noise(rng: np.random.Generator, height: int, width: int) -> np.ndarray:
    bank = _noise_bank(height, width)
    oy, ox = int(rng.integers(height)), int(rng.integers(width))
    return bank[oy : oy + height, ox : ox + width]


def _jitter(rng: np.random.Generator, colours: np.ndarray, amount: int = 12) -> np.ndarray:
    colour = colours[rng.integers(len(colours))].astype(np.float32)
    return np.clip(colour + rng.integers(-amount, amount + 1, 3), 0, 255)


def _rgb(colour: np.ndarray) -> tuple[int, int, int]:
    r, g, b = (int(v) for v in np.clip(colour, 0, 255))
    return r, g, b


def _fabric(
    fabric: int, rng: np.random.Generator, height: int, width: int, u: float
) -> tuple[np.ndarray, np.ndarray]:
    """Return the garment texture ``(H, W, 3)`` float32 and its base colour."""
    yy, xx = _grid(height, width)
    shade: np.ndarray | None
    if fabric == DENIM:
        base = _jitter(rng, DENIM_COLOURS)
        period = max(2.0, 1.3 * u)
        shade = np.where(((xx + yy) / period) % 1.0 < 0.5, np.float32(0.82), np.float32(1.08))
        noise = 8.0
    elif fabric == CHIFFON:
        base = rng.integers(200, 256, 3).astype(np.float32)
        shade = 1.0 - np.float32(0.05) * np.sin(yy / np.float32(max(1.0, 2.5 * u)))
        noise = 3.0
    elif fabric == COTTON:
        base = _jitter(rng, COTTON_COLOURS, 15)
        shade = None
        noise = 4.0
    elif fabric == LEATHER:
        base = _jitter(rng, LEATHER_COLOURS, 8)
        phase = np.float32(rng.uniform(0, 2 * np.pi))
        wave = np.sin(xx[0] * np.float32(2 * np.pi / (12 * u)) + phase)  # broad vertical sheen
        gloss = np.float32(120.0) * ((0.5 + 0.5 * wave) ** 6)
        texture = base + gloss[None, :, None] + 3.0 * _noise(rng, height, width)[..., None]
        return texture.astype(np.float32), base
    elif fabric == FAUX:
        base = _jitter(rng, FAUX_COLOURS, 10)
        speckle = _noise(rng, height, width) * np.float32(38.0)
        return (base + speckle[..., None]).astype(np.float32), base
    elif fabric == KNIT:
        base = _jitter(rng, KNIT_COLOURS, 12)
        period = max(2.0, 1.6 * u)
        v = (yy / period + np.abs((xx / period) % 2.0 - 1.0)) % 1.0
        shade = np.where(v < 0.5, np.float32(0.78), np.float32(1.1))
        noise = 4.0
    else:
        raise ValueError(f"Expected a fabric index in [0, 5], but got {fabric}.")
    grain = _noise(rng, height, width)[..., None] * np.float32(noise)
    texture = base + grain if shade is None else base * shade[..., None] + grain
    return texture.astype(np.float32), base


def _accent(rng: np.random.Generator, base: np.ndarray) -> tuple[int, int, int]:
    accent = ACCENTS[rng.integers(len(ACCENTS))].astype(np.float32)
    luminance = float(base @ np.array([0.299, 0.587, 0.114]))
    if luminance > 140:
        accent = accent * 0.35
    else:
        accent = 0.5 * accent + 0.5 * 255
    return _rgb(accent)


def _star(cx: float, cy: float, r: float, points: int = 5) -> list[tuple[float, float]]:
    out = []
    for i in range(2 * points):
        radius = r if i % 2 == 0 else 0.45 * r
        angle = -np.pi / 2 + i * np.pi / points
        out.append((cx + radius * math.cos(angle), cy + radius * math.sin(angle)))
    return out


def render_image(
    labels: Sequence[int], *, image_size: int = 300, rng: np.random.Generator
) -> Image.Image:
    """Draw one RGB picture of a garment with the given 6 labels.

    Args:
        labels: One attribute index per group (pattern, sleeve, length, neckline, fabric, fit).
        image_size: Height in pixels (the long side); the width is ``round(0.75 * image_size)``.
        rng: The source of all randomness (nuisance and colours).

    >>> image = render_image([5, 2, 2, 3, 2, 2], image_size=64, rng=np.random.default_rng(0))
    >>> image.mode, image.size
    ('RGB', (48, 64))
    """
    pattern, sleeve, length, neckline, fabric, fit = (int(v) for v in labels)
    height, width = image_size, round(ASPECT * image_size)
    u = height / 100.0

    # Background: a colour, a vertical gradient.
    bg = rng.integers(140, 256, 3).astype(np.float32)
    ramp = np.linspace(rng.uniform(0.85, 1.0), rng.uniform(0.95, 1.1), height, dtype=np.float32)
    column = np.clip(bg * ramp[:, None, None], 0, 255).astype(np.uint8)  # (H, 1, 3)
    image = Image.fromarray(column).resize((width, height), Image.Resampling.NEAREST)
    draw = ImageDraw.Draw(image)

    # Figure placement: body coordinates (x in [-25, 25] around the centre, y in [0, 100]).
    cx = width / 2 + rng.uniform(-0.07, 0.07) * width
    top = rng.uniform(-3, 3) * u
    scale = rng.uniform(0.94, 1.04) * u

    angle = math.radians(rng.uniform(-6, 6))
    cos, sin = math.cos(angle), math.sin(angle)

    def pt(x: float, y: float) -> tuple[float, float]:
        dx, dy = x * scale, (y - 50) * scale
        return cx + dx * cos - dy * sin, top + 50 * scale + dx * sin + dy * cos

    def poly(points: Sequence[tuple[float, float]]) -> list[tuple[float, float]]:
        return [pt(x, y) for x, y in points]

    def mirror(points: Sequence[tuple[float, float]]) -> list[tuple[float, float]]:
        return [(-x, y) for x, y in points]

    def rect(x0: float, y0: float, x1: float, y1: float) -> list[tuple[float, float]]:
        return poly([(x0, y0), (x1, y0), (x1, y1), (x0, y1)])

    def oval(x0: float, y0: float, x1: float, y1: float) -> list[tuple[float, float]]:
        (x, y), rx, ry = (
            pt((x0 + x1) / 2, (y0 + y1) / 2),
            (x1 - x0) * scale / 2,
            (y1 - y0) * scale / 2,
        )
        return [(x - rx, y - ry), (x + rx, y + ry)]

    skin = _rgb(_jitter(rng, SKIN, 8))
    # Body: legs, arms, chest, neck, hair, head.
    for side in (-1, 1):
        draw.polygon(rect(min(side * 1.5, side * 7), 46, max(side * 1.5, side * 7), 100), fill=skin)
        arm = [(13, 21), (17, 22), (19.5, 57), (15.5, 57)]
        draw.polygon(poly(arm if side > 0 else mirror(arm)), fill=skin)
        draw.ellipse(oval(side * 17.5 - 2.3, 56, side * 17.5 + 2.3, 61), fill=skin)
    draw.polygon(poly([(-13, 20), (13, 20), (10, 48), (-10, 48)]), fill=skin)
    draw.polygon(rect(-2.4, 12, 2.4, 21), fill=skin)
    draw.ellipse(oval(-6.2, 0.5, 6.2, 12), fill=_rgb(_jitter(rng, HAIR, 10)))
    draw.ellipse(oval(-5.2, 2.5, 5.2, 16), fill=skin)
    if length == NO_DRESS:
        trousers = _rgb(_jitter(rng, TROUSERS, 10))
        draw.polygon(rect(-8.5, 50, -1.0, 100), fill=trousers)
        draw.polygon(rect(1.0, 50, 8.5, 100), fill=trousers)
        draw.polygon(rect(-8.5, 50, 8.5, 58), fill=trousers)

    # Garment silhouette as a mask.
    f = FIT_FACTOR[fit] * rng.uniform(0.97, 1.03)
    shoulder = 13.5 + 3.5 * (f - 1)
    waist = 10.0 * f
    mask = Image.new("L", (width, height), 0)
    md = ImageDraw.Draw(mask)
    if sleeve == SLEEVELESS:
        md.polygon(poly([(-9, 21.5), (9, 21.5), (waist, 48), (-waist, 48)]), fill=255)
        for side in (-1, 1):  # straps
            strap = [(6.5, 19.5), (9.5, 19.5), (9.5, 23), (6.5, 23)]
            md.polygon(poly(strap if side > 0 else mirror(strap)), fill=255)
    else:
        md.polygon(poly([(-shoulder, 20), (shoulder, 20), (waist, 48), (-waist, 48)]), fill=255)
        end = 57.0 if sleeve == LONG_SLEEVE else 31.0
        t = (end - 20) / 37
        outer0, outer1 = shoulder + 3.5 * f, 19.5 + 5 * (f - 1)
        inner0, inner1 = shoulder - 2.0, 15.0 - 2 * (f - 1)
        arm = [
            (inner0, 20),
            (outer0, 21),
            (outer0 + t * (outer1 - outer0), end),
            (inner0 + t * (inner1 - inner0), end),
        ]
        for side in (-1, 1):
            md.polygon(poly(arm if side > 0 else mirror(arm)), fill=255)
    if length == NO_DRESS:
        hem_y = 55.0
        md.polygon(
            poly([(-waist, 47), (waist, 47), (1.05 * waist, hem_y), (-1.05 * waist, hem_y)]),
            fill=255,
        )
    else:
        hem_y = 92.0 if length == MAXI else 69.0
        flare = (0.5 if length == MAXI else 0.35) * f * f
        hem = waist * (1.0 + flare)
        md.polygon(poly([(-waist, 47), (waist, 47), (hem, hem_y), (-hem, hem_y)]), fill=255)
    if neckline == CREW:
        md.ellipse(oval(-5.5, 15, 5.5, 26), fill=0)
    elif neckline == V_NECK:
        md.polygon(poly([(-6, 19), (6, 19), (0, 35)]), fill=0)
    elif neckline == SQUARE:
        md.polygon(rect(-6.5, 19, 6.5, 30), fill=0)
    else:  # a high collar hides the neck
        md.polygon(rect(-3.8, 12.5, 3.8, 21), fill=255)

    # Texture: fabric, then the pattern on top (clipped by the mask when composited).
    texture_array, base = _fabric(fabric, rng, height, width, u)
    texture = Image.fromarray(np.clip(texture_array, 0, 255).astype(np.uint8))
    td = ImageDraw.Draw(texture)
    accent = _accent(rng, base)
    line = max(1, round(0.5 * scale))
    if pattern == FLORAL:
        centre = _rgb(
            np.array([250, 220, 60]) if accent[0] + accent[1] < 300 else np.array([150, 30, 40])
        )
        for _ in range(int(rng.integers(12, 20))):
            x, y = rng.uniform(-20, 20), rng.uniform(20, hem_y)
            r = max(1.3 * scale, 1.0)
            for k in range(5):
                a = k * 2 * np.pi / 5
                px, py = pt(x + 1.3 * math.cos(a), y + 1.3 * math.sin(a))
                td.ellipse([(px - r, py - r), (px + r, py + r)], fill=accent)
            px, py = pt(x, y)
            rc = max(0.8 * scale, 0.8)
            td.ellipse([(px - rc, py - rc), (px + rc, py + rc)], fill=centre)
    elif pattern == GRAPHIC:
        gx, gy = pt(rng.uniform(-1.5, 1.5), rng.uniform(33, 37))
        r = rng.uniform(5.5, 7.5) * scale
        kind = int(rng.integers(4))
        if kind == 0:
            td.polygon(_star(gx, gy, r), fill=accent)
        elif kind == 1:
            td.polygon([(gx, gy - r), (gx + r, gy + 0.8 * r), (gx - r, gy + 0.8 * r)], fill=accent)
        elif kind == 2:
            td.ellipse([(gx - r, gy - r), (gx + r, gy + r)], fill=accent)
            td.ellipse([(gx - r / 2, gy - r / 2), (gx + r / 2, gy + r / 2)], fill=_rgb(base))
        else:
            td.rectangle([(gx - r, gy - 0.7 * r), (gx + r, gy + 0.7 * r)], fill=accent)
    elif pattern == STRIPED:
        period, offset = 5.0, rng.uniform(0, 5)
        y = 15.0 + offset
        while y < 100:
            td.polygon(rect(-30, y, 30, y + 2.0), fill=accent)
            y += period
    elif pattern == EMBROIDERED:
        rows = [24.5, hem_y - 3.0] + ([] if sleeve == SLEEVELESS else [44.0])
        for row in rows:
            td.line([pt(-30, row - 1.6), pt(30, row - 1.6)], fill=accent, width=line)
            td.line([pt(-30, row + 1.6), pt(30, row + 1.6)], fill=accent, width=line)
            x = -30.0
            while x < 30:
                td.polygon(
                    poly([(x, row), (x + 1.1, row - 1.1), (x + 2.2, row), (x + 1.1, row + 1.1)]),
                    fill=accent,
                )
                x += 2.6
    elif pattern == PLEATED:
        fold = _rgb(base * 0.55)
        x = -30.0 + rng.uniform(0, 2.4)
        start = 20.0 if length == NO_DRESS else 47.0
        while x < 30:
            td.line([pt(x, start), pt(x, 100)], fill=fold, width=line)
            x += 2.4
        if length != NO_DRESS:
            td.line([pt(-30, 47), pt(30, 47)], fill=fold, width=line)
    elif pattern == LATTICE:
        period, offset = 6.0, rng.uniform(0, 6)
        d = -100.0 + offset
        while d < 100:
            td.line([pt(d - 20, 0), pt(d + 80, 100)], fill=accent, width=line)
            td.line([pt(d + 80, 0), pt(d - 20, 100)], fill=accent, width=line)
            d += period
    if fabric == CHIFFON:
        mask = mask.point(lambda v: v * 150 // 255)
    image.paste(texture, (0, 0), mask)

    # Nuisance: brightness, pixel noise (the rotation is in `pt`).
    gain = rng.uniform(0.9, 1.08)
    image = image.point([min(255, round(v * gain)) for v in range(256)] * 3)
    grain = Image.fromarray(np.clip(128 + 4 * _noise(rng, height, width), 0, 255).astype(np.uint8))
    return ImageChops.add(image, Image.merge("RGB", (grain, grain, grain)), 1.0, -128)
