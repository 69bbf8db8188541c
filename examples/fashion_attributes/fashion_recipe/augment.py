"""The report's training augmentation on batched tensors, per sample, on any device.

Same distributions as the PIL pipeline (``builders.build_transforms``): horizontal flip with
p = 0.5, rotation by an angle uniform in [-20, 20] degrees (nearest neighbour, black fill, no
expansion), the centre crop, colour jitter with brightness/contrast/saturation factors uniform in
[0.9, 1.1] and a hue shift uniform in [-0.05, 0.05] applied in a random order drawn per image (as
``torchvision.transforms.ColorJitter`` draws it per call), then normalisation
(``tests/test_example_augment.py`` compares the distributions with the PIL pipeline's, the whole
pipelines included).

The PIL path rotates the whole image before resizing it, so the rotated crop's corners show the
image beyond the crop where there is some (along the long side) and black where there is none.
The tensor path rotates the decoded image about the same centre (a rotation commutes with the
resize): its training images are decoded onto a square canvas of :func:`rotation_canvas` pixels,
large enough for every corner of the rotated crop, the short side padded with black. Only the
resampling differs (nearest neighbour before or after the bicubic resize), and the contrast
jitter's mean gray level, which the PIL path takes over the whole image and this one over the crop.

Cost: the flip and the rotation are one ``grid_sample``; each of the four jitter positions is one
blend of every image (brightness, contrast and saturation are all ``f x + (1 - f) other``, the hue
images pass through with ``f = 1``), and the hue shift runs once per image, on the images whose
turn it is. Per-image values (flips, angles, factors) are drawn from ``gen`` on the images'
device; the jitter order, which decides those subsets' sizes, from a CPU generator ``order_gen``,
so nothing is read back from the device (no host synchronisation), and every constant is built
once per device.
"""

from __future__ import annotations

import functools
import math

import torch
import torch.nn.functional as F

_GRAY = (0.2989, 0.587, 0.114)  # torchvision's rgb_to_grayscale weights
BRIGHTNESS, CONTRAST, SATURATION, HUE = range(4)  # jitter operations, torchvision's numbering


@functools.lru_cache(maxsize=32)
def _channel_constant(values: tuple[float, ...], device: torch.device) -> torch.Tensor:
    """``(1, C, 1, 1)`` float32 constant on ``device``, built once (a copy per call would sync)."""
    return torch.tensor(values, dtype=torch.float32, device=device).view(1, -1, 1, 1)


def _uniform(n: int, low: float, high: float, gen: torch.Generator, device: torch.device) -> torch.Tensor:
    return torch.empty(n, device=device).uniform_(low, high, generator=gen)


def _to_device(t: torch.Tensor, device: torch.device) -> torch.Tensor:
    """A small CPU tensor to ``device`` without waiting for the device (pinned, non-blocking)."""
    if device.type == "cuda":
        t = t.pin_memory()
    return t.to(device, non_blocking=True)


def _gray(x: torch.Tensor) -> torch.Tensor:
    return (x * _channel_constant(_GRAY, x.device).to(x.dtype)).sum(1, keepdim=True)


def shift_hue(x: torch.Tensor, shift: torch.Tensor) -> torch.Tensor:
    """Add ``shift[i]`` to the HSV hue of image ``i`` (mod 1): ``torchvision``'s ``adjust_hue``.

    RGB to hue as ``torchvision`` computes it, then back with ``c_n = v - (v - m) clamp(min(k,
    4 - k), 0, 1)``, ``k = (n + 6 h) mod 6``, ``n = 5, 3, 1`` (``v``, ``m`` the largest and
    smallest channel): saturation and value are kept, and no lookup table is copied per call.
    """
    r, g, _ = x.unbind(1)
    minc, maxc = torch.aminmax(x, dim=1)
    chroma = maxc - minc
    divisor = torch.where(chroma == 0, torch.ones_like(chroma), chroma).unsqueeze(1)
    rc, gc, bc = ((maxc.unsqueeze(1) - x) / divisor).unbind(1)
    max_r, max_g = maxc == r, (maxc == g) & (maxc != r)
    max_b = ~(max_r | max_g)
    h = (bc - gc) * max_r + (rc + 2 - bc) * max_g + (gc + 4 - rc) * max_b
    h6 = (h / 6 + 1 + shift.view(-1, 1, 1)).remainder_(1) * 6
    channels = []
    for n in (5.0, 3.0, 1.0):
        k = (h6 + n).remainder_(6)
        channels.append(maxc - chroma * torch.minimum(k, 4 - k).clamp_(0, 1))
    return torch.stack(channels, 1)


def color_jitter(
    x: torch.Tensor,
    gen: torch.Generator,
    *,
    order_gen: torch.Generator | None = None,
    brightness: float = 0.1,
    contrast: float = 0.1,
    saturation: float = 0.1,
    hue: float = 0.05,
) -> torch.Tensor:
    """Per-image colour jitter of float images in [0, 1], ``(N, 3, H, W)``, random op order per image.

    Factors come from ``gen`` (on ``x``'s device), the order of the four operations from
    ``order_gen`` (a CPU generator; default ``gen`` when that is on the CPU).
    """
    n, dev = x.shape[0], x.device
    if order_gen is None:
        if gen.device.type != "cpu":
            raise ValueError(f"Expected a CPU `order_gen` with a generator on {gen.device}, but got None.")
        order_gen = gen
    factors = torch.stack([
        _uniform(n, 1 - brightness, 1 + brightness, gen, dev),
        _uniform(n, 1 - contrast, 1 + contrast, gen, dev),
        _uniform(n, 1 - saturation, 1 + saturation, gen, dev),
        _uniform(n, -hue, hue, gen, dev),
    ])
    order = torch.rand(n, 4, generator=order_gen).argsort(dim=1)  # a permutation per image (CPU)
    rows = torch.arange(n, device=dev)
    for position in range(4):
        op = order[:, position]
        op_dev = _to_device(op, dev)
        # One blend for every image: brightness blends with 0, contrast with the mean gray level,
        # saturation with the gray image; a hue image gets f = 1 (kept exactly).
        f = torch.where(op_dev == HUE, 1.0, factors[op_dev.clamp(max=SATURATION), rows]).view(-1, 1, 1, 1)
        if bool(((op == CONTRAST) | (op == SATURATION)).any()):
            gray = _gray(x)
            mean = gray.mean(dim=(1, 2, 3), keepdim=True)
            sat = (op_dev == SATURATION).to(x.dtype).view(-1, 1, 1, 1)
            con = (op_dev == CONTRAST).to(x.dtype).view(-1, 1, 1, 1)
            other = torch.addcmul(con * mean, sat, gray)
        else:
            other = torch.zeros((), dtype=x.dtype, device=dev)
        x = torch.lerp(other, x, f).clamp_(0, 1)
        picked = (op == HUE).nonzero().flatten()  # on the CPU: known sizes, no device read
        if len(picked):
            index = _to_device(picked, dev)
            x.index_copy_(0, index, shift_hue(x.index_select(0, index), factors[HUE].index_select(0, index)))
    return x


def rotate(x: torch.Tensor, gen: torch.Generator, degrees: float = 20.0) -> torch.Tensor:
    """Rotate each image about its centre by an angle uniform in [-degrees, degrees]."""
    return rotate_by(x, _uniform(x.shape[0], -degrees, degrees, gen, x.device))


def rotate_by(x: torch.Tensor, degrees: torch.Tensor, flip: torch.Tensor | None = None) -> torch.Tensor:
    """Rotate image ``i`` counter-clockwise by ``degrees[i]`` as ``torchvision``'s ``rotate`` does.

    Nearest neighbour, black fill, same size. With ``flip`` (bool ``(N,)``), the images where it
    is True are mirrored left-right first, in the same ``grid_sample``.
    """
    angle = degrees.to(torch.float32) * (math.pi / 180)
    cos, sin = angle.cos(), angle.sin()
    zero = torch.zeros_like(cos)
    theta = torch.stack([torch.stack([cos, -sin, zero], 1), torch.stack([sin, cos, zero], 1)], dim=1)
    if flip is not None:  # sample the mirrored image: negate the x source coordinate
        theta[:, 0] *= torch.where(flip, -1.0, 1.0).view(-1, 1)
    grid = F.affine_grid(theta.to(x.dtype), list(x.shape), align_corners=False)
    return F.grid_sample(x, grid, mode="nearest", padding_mode="zeros", align_corners=False)


def hflip(x: torch.Tensor, gen: torch.Generator, p: float = 0.5) -> torch.Tensor:
    """Flip each image horizontally with probability ``p``."""
    flip = (torch.rand(x.shape[0], device=x.device, generator=gen) < p).view(-1, 1, 1, 1)
    return torch.where(flip, x.flip(-1), x)


def rotation_canvas(crop: int, degrees: float = 20.0) -> int:
    """Side of a square holding every pixel that a rotated ``crop``-pixel centre crop samples.

    ``crop * (cos + sin)`` of the largest angle ``degrees``, plus a pixel each side for the rounding.
    """
    angle = math.radians(min(abs(degrees), 45.0))
    return math.ceil(crop * (math.cos(angle) + math.sin(angle))) + 2


def center_crop(x: torch.Tensor, size: int) -> torch.Tensor:
    """Central ``size x size`` window."""
    h, w = x.shape[-2:]
    top, left = (h - size) // 2, (w - size) // 2
    return x[..., top : top + size, left : left + size]


def flip_rotate(x: torch.Tensor, gen: torch.Generator, p: float = 0.5, degrees: float = 20.0) -> torch.Tensor:
    """:func:`hflip` then :func:`rotate` (same draws from ``gen``), as one ``grid_sample``."""
    flip = torch.rand(x.shape[0], device=x.device, generator=gen) < p
    return rotate_by(x, _uniform(x.shape[0], -degrees, degrees, gen, x.device), flip)


def preprocess(
    images: torch.Tensor,
    *,
    crop: int,
    mean: tuple[float, ...],
    std: tuple[float, ...],
    gen: torch.Generator | None = None,
    order_gen: torch.Generator | None = None,
    augment: bool = False,
) -> torch.Tensor:
    """uint8 ``(N, 3, R, R)`` images to normalised float crops, augmented when ``augment``.

    Augmentation (flip and rotation of the whole image, centre crop, colour jitter) draws from
    ``gen`` (on the images' device) and, for the jitter order, from ``order_gen`` (CPU; default
    ``gen`` when that is on the CPU). For the PIL path's corners, ``R`` is at least
    :func:`rotation_canvas` of ``crop``.
    """
    x = images.float().div_(255)
    if augment:
        if gen is None:
            raise ValueError("Expected a torch.Generator `gen` when augment=True, but got None.")
        x = color_jitter(center_crop(flip_rotate(x, gen), crop), gen, order_gen=order_gen)
    x = center_crop(x, crop)
    scale = _channel_constant(tuple(1 / s for s in std), x.device)
    return torch.addcmul(_channel_constant(tuple(-m / s for m, s in zip(mean, std)), x.device), x, scale)
