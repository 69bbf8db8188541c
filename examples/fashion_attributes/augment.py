"""The report's training augmentation on batched tensors, per sample, on any device.

Same distributions as the PIL pipeline (``builders.build_transforms``): horizontal flip with
p = 0.5, rotation by an angle uniform in [-20, 20] degrees (nearest neighbour, black fill, no
expansion), colour jitter with brightness/contrast/saturation factors uniform in [0.9, 1.1] and a
hue shift uniform in [-0.05, 0.05] applied in a random order drawn per image (as
``torchvision.transforms.ColorJitter`` draws it per call), then the centre crop and normalisation.
Everything is drawn from the ``torch.Generator`` passed in, on the images' device, and every
constant is built once per device: no host synchronisation (``tests/test_example_augment.py``
checks the distributions against the PIL pipeline).
"""

from __future__ import annotations

import functools
import math

import torch
import torch.nn.functional as F
from torchvision.transforms.v2.functional._color import _rgb_to_hsv

_GRAY = (0.2989, 0.587, 0.114)  # torchvision's rgb_to_grayscale weights


@functools.lru_cache(maxsize=32)
def _channel_constant(values: tuple[float, ...], device: torch.device) -> torch.Tensor:
    """``(1, C, 1, 1)`` float32 constant on ``device``, built once (a copy per call would sync)."""
    return torch.tensor(values, dtype=torch.float32, device=device).view(1, -1, 1, 1)


def _uniform(n: int, low: float, high: float, gen: torch.Generator, device: torch.device) -> torch.Tensor:
    return torch.empty(n, device=device).uniform_(low, high, generator=gen)


def _gray(x: torch.Tensor) -> torch.Tensor:
    return (x * _channel_constant(_GRAY, x.device).to(x.dtype)).sum(1, keepdim=True)


def _hsv_to_rgb(hsv: torch.Tensor) -> torch.Tensor:
    """HSV to RGB, ``(N, 3, H, W)``, without lookup tables (torchvision's copies one per call).

    Channel ``c = v - v s clamp(min(k, 4 - k), 0, 1)`` with ``k = (n + 6 h) mod 6`` and
    ``n = 5, 3, 1`` for red, green, blue: the same values as ``torchvision``'s conversion.
    """
    h, s, v = hsv.unbind(1)
    h6 = h * 6
    channels = []
    for n in (5.0, 3.0, 1.0):
        k = (h6 + n).remainder_(6)
        channels.append(v - v * s * torch.minimum(k, 4 - k).clamp_(0, 1))
    return torch.stack(channels, 1)


def _blend(x: torch.Tensor, other: torch.Tensor, factor: torch.Tensor) -> torch.Tensor:
    f = factor.view(-1, 1, 1, 1)
    return (f * x + (1 - f) * other).clamp_(0, 1)


def color_jitter(
    x: torch.Tensor,
    gen: torch.Generator,
    *,
    brightness: float = 0.1,
    contrast: float = 0.1,
    saturation: float = 0.1,
    hue: float = 0.05,
) -> torch.Tensor:
    """Per-image colour jitter of float images in [0, 1], ``(N, 3, H, W)``, random op order per image."""
    n, dev = x.shape[0], x.device
    factors = [
        _uniform(n, 1 - brightness, 1 + brightness, gen, dev),
        _uniform(n, 1 - contrast, 1 + contrast, gen, dev),
        _uniform(n, 1 - saturation, 1 + saturation, gen, dev),
        _uniform(n, -hue, hue, gen, dev),
    ]
    order = torch.rand(n, 4, device=dev, generator=gen).argsort(dim=1)  # a permutation per image

    def apply(op: int, img: torch.Tensor) -> torch.Tensor:
        f = factors[op]
        if op == 0:
            return _blend(img, torch.zeros_like(img), f)
        if op == 1:
            return _blend(img, _gray(img).mean(dim=(1, 2, 3), keepdim=True), f)
        if op == 2:
            return _blend(img, _gray(img), f)
        hsv = _rgb_to_hsv(img)
        h = (hsv[:, 0] + f.view(-1, 1, 1)).remainder(1.0)
        return _hsv_to_rgb(torch.stack([h, hsv[:, 1], hsv[:, 2]], dim=1))

    for position in range(4):
        out = torch.empty_like(x)
        for op in range(4):
            sel = (order[:, position] == op).view(-1, 1, 1, 1)
            out = torch.where(sel, apply(op, x), out)
        x = out
    return x


def rotate(x: torch.Tensor, gen: torch.Generator, degrees: float = 20.0) -> torch.Tensor:
    """Rotate each image about its centre by an angle uniform in [-degrees, degrees]."""
    return rotate_by(x, _uniform(x.shape[0], -degrees, degrees, gen, x.device))


def rotate_by(x: torch.Tensor, degrees: torch.Tensor) -> torch.Tensor:
    """Rotate image ``i`` counter-clockwise by ``degrees[i]`` as ``torchvision``'s ``rotate`` does.

    Nearest neighbour, black fill, same size.
    """
    angle = degrees.to(torch.float32) * (math.pi / 180)
    cos, sin = angle.cos(), angle.sin()
    theta = torch.stack(
        [torch.stack([cos, -sin, torch.zeros_like(cos)], 1), torch.stack([sin, cos, torch.zeros_like(cos)], 1)],
        dim=1,
    )
    grid = F.affine_grid(theta.to(x.dtype), list(x.shape), align_corners=False)
    return F.grid_sample(x, grid, mode="nearest", padding_mode="zeros", align_corners=False)


def hflip(x: torch.Tensor, gen: torch.Generator, p: float = 0.5) -> torch.Tensor:
    """Flip each image horizontally with probability ``p``."""
    flip = (torch.rand(x.shape[0], device=x.device, generator=gen) < p).view(-1, 1, 1, 1)
    return torch.where(flip, x.flip(-1), x)


def center_crop(x: torch.Tensor, size: int) -> torch.Tensor:
    """Central ``size x size`` window."""
    h, w = x.shape[-2:]
    top, left = (h - size) // 2, (w - size) // 2
    return x[..., top : top + size, left : left + size]


def preprocess(
    images: torch.Tensor,
    *,
    crop: int,
    mean: tuple[float, ...],
    std: tuple[float, ...],
    gen: torch.Generator | None = None,
    augment: bool = False,
) -> torch.Tensor:
    """uint8 ``(N, 3, R, R)`` images to normalised float crops, augmented when ``augment``."""
    x = images.float().div_(255)
    if augment:
        if gen is None:
            raise ValueError("Expected a torch.Generator `gen` when augment=True, but got None.")
        x = color_jitter(rotate(hflip(x, gen), gen), gen)
    x = center_crop(x, crop)
    return (x - _channel_constant(tuple(mean), x.device)) / _channel_constant(tuple(std), x.device)
