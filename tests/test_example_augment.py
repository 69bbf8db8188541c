"""The example's tensor pipeline against its PIL pipeline: same augmentation, same mixup.

The tensor path (``augment.py``, ``pipeline.build_tensor_data``) must draw from the same
distributions as the report's PIL transforms (``builders.build_transforms``). Each random
operation is measured on small synthetic images through both paths, and the two samples are
compared with a two-sample Kolmogorov-Smirnov test (fixed seeds, so the tests are deterministic;
a halved or doubled range moves the statistic far past the threshold). Mixup must give the same
soft targets batch for batch, since both paths draw it from the epoch's seed.
"""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
import torch
from _helpers.fashion_example import import_example, synthetic
from PIL import Image
from scipy.stats import ks_2samp
from torchvision.transforms import functional as TF
from torchvision.transforms.v2.functional._color import _rgb_to_hsv

augment = import_example("augment")
builders = import_example("builders")
config_mod = import_example("config")
pipeline = import_example("pipeline")

N = 400  # images per sample
P_MIN = 1e-3  # KS p-value below which the distributions are declared different


@pytest.fixture(scope="module")
def pil_steps() -> tuple:
    """The PIL path's flip, rotation and colour jitter, as the example builds them."""
    steps = builders.build_transforms(dict(config_mod.DEFAULTS), train=True).transforms
    return tuple(steps[:3])


def _same_distribution(a: torch.Tensor, b: torch.Tensor) -> None:
    result = ks_2samp(a.double().numpy(), b.double().numpy())
    assert result.pvalue > P_MIN, f"KS statistic {result.statistic:.3f}, p = {result.pvalue:.2g}"


def _as_pil_image(x: torch.Tensor) -> Image.Image:
    return TF.to_pil_image(x)


def _const(rgb: tuple[float, float, float], n: int, size: int = 8) -> torch.Tensor:
    return torch.tensor(rgb).view(1, 3, 1, 1).expand(n, 3, size, size).clone()


def _quantise(x: torch.Tensor) -> torch.Tensor:
    """Round to 8 bits, as the PIL path's images are."""
    return (x * 255).round() / 255


def test_shift_hue_matches_torchvision() -> None:
    g = torch.Generator().manual_seed(0)
    x = torch.rand(5, 3, 9, 9, generator=g)
    x[0] = 0.5  # gray: no hue
    x[1, :, :3] = torch.tensor([1.0, 0.0, 0.0]).view(3, 1, 1)  # saturated red: hue 0
    shift = torch.tensor([0.3, -0.05, 0.05, -0.5, 0.01])
    expected = torch.stack([TF.adjust_hue(img, float(f)) for img, f in zip(x, shift)])
    torch.testing.assert_close(augment.shift_hue(x, shift), expected, atol=2e-6, rtol=0)


def test_color_jitter_applies_torchvision_ops_in_each_images_order() -> None:
    n = 12
    x = torch.rand(n, 3, 10, 10, generator=torch.Generator().manual_seed(4))
    got = augment.color_jitter(x, torch.Generator().manual_seed(5))
    g = torch.Generator().manual_seed(5)  # the same draws, in the documented order
    ranges = [(0.9, 1.1)] * 3 + [(-0.05, 0.05)]
    factors = [torch.empty(n).uniform_(lo, hi, generator=g) for lo, hi in ranges]
    order = torch.rand(n, 4, generator=g).argsort(1)
    ops = [TF.adjust_brightness, TF.adjust_contrast, TF.adjust_saturation, TF.adjust_hue]
    for i in range(n):
        img = x[i]
        for op in order[i].tolist():
            img = ops[op](img, float(factors[op][i]))
        torch.testing.assert_close(got[i], img, atol=2e-6, rtol=0)
    assert len({tuple(o) for o in order.tolist()}) > 1  # the images drew different orders


@pytest.mark.parametrize("degrees", [7.0, -15.0, 20.0])
def test_rotate_by_matches_torchvision(degrees: float) -> None:
    x = torch.rand(1, 3, 33, 33, generator=torch.Generator().manual_seed(1))
    expected = TF.rotate(x, degrees, interpolation=TF.InterpolationMode.NEAREST)
    assert torch.equal(augment.rotate_by(x, torch.tensor([degrees])), expected)


def test_preprocess_is_flip_rotate_jitter_crop_normalise() -> None:
    x = torch.randint(
        0, 256, (6, 3, 20, 20), dtype=torch.uint8, generator=torch.Generator().manual_seed(2)
    )
    mean, std = (0.4, 0.5, 0.6), (0.2, 0.3, 0.4)
    got = augment.preprocess(
        x, crop=16, mean=mean, std=std, gen=torch.Generator().manual_seed(4), augment=True
    )
    g = torch.Generator().manual_seed(4)  # flip, then rotate (one grid_sample), then jitter
    y = augment.color_jitter(augment.rotate(augment.hflip(x.float() / 255, g), g), g)
    y = (augment.center_crop(y, 16) - torch.tensor(mean).view(1, 3, 1, 1)) / torch.tensor(std).view(
        1, 3, 1, 1
    )
    torch.testing.assert_close(got, y, atol=1e-5, rtol=0)
    flips = torch.rand(6, generator=torch.Generator().manual_seed(4)) < 0.5
    assert 0 < int(flips.sum()) < 6  # flipped and unflipped images are both checked
    with pytest.raises(ValueError, match="Expected a torch.Generator `gen` when augment=True"):
        augment.preprocess(x, crop=16, mean=mean, std=std, augment=True)


def test_flip_rate_matches_pil(pil_steps: tuple) -> None:
    flip = pil_steps[0]
    image = torch.zeros(3, 4, 4)
    image[:, :, :2] = 1.0  # bright left half: a flipped image starts dark
    torch.manual_seed(0)
    n = 4000
    tensor_rate = float(
        (augment.hflip(image.expand(n, 3, 4, 4), torch.Generator().manual_seed(0))[:, 0, 0, 0] == 0)
        .float()
        .mean()
    )
    pil = _as_pil_image(image)
    pil_rate = float(np.mean([np.asarray(flip(pil))[0, 0, 0] == 0 for _ in range(n)]))
    sigma = (0.25 / n) ** 0.5
    assert abs(tensor_rate - 0.5) < 4 * sigma and abs(pil_rate - 0.5) < 4 * sigma
    assert abs(tensor_rate - pil_rate) < 4 * sigma * 2**0.5


def _angle(images: torch.Tensor, centre: float) -> torch.Tensor:
    """Angle in degrees (counter-clockwise) of the bright blob's centroid about the centre."""
    m = images.mean(1)
    ys, xs = torch.meshgrid(torch.arange(m.shape[-2]), torch.arange(m.shape[-1]), indexing="ij")
    w = m.sum((-1, -2))
    cy = (m * ys).sum((-1, -2)) / w - centre
    cx = (m * xs).sum((-1, -2)) / w - centre
    return torch.rad2deg(torch.atan2(-cy, cx))


def test_rotation_angles_match_pil(pil_steps: tuple) -> None:
    rotation = pil_steps[1]
    size = 41
    image = torch.zeros(3, size, size)
    image[:, 19:22, 34:37] = 1.0  # a blob 15 pixels right of the centre: angle 0
    torch.manual_seed(0)
    tensor_angles = _angle(
        augment.rotate(image.expand(N, 3, size, size), torch.Generator().manual_seed(0)), 20
    )
    pil = _as_pil_image(image)
    pil_angles = _angle(torch.stack([TF.to_tensor(rotation(pil)) for _ in range(N)]), 20)
    _same_distribution(tensor_angles, pil_angles)
    slack = 2.5  # the blob's position is read to about a pixel at radius 15
    for angles in (tensor_angles, pil_angles):
        assert angles.abs().max() <= 20 + slack
        assert angles.min() < -20 + slack and angles.max() > 20 - slack


def _two_levels(n: int) -> torch.Tensor:
    x = torch.full((n, 3, 8, 8), 77 / 255)
    x[..., 4:] = 179 / 255
    return x


def _brightness(x: torch.Tensor) -> torch.Tensor:  # a gray image: only brightness changes it
    return x.mean((1, 2, 3)) / (128 / 255)


def _contrast(x: torch.Tensor) -> torch.Tensor:  # two gray levels: brightness * contrast factors
    return (x[..., 4:].mean((1, 2, 3)) - x[..., :4].mean((1, 2, 3))) / (102 / 255)


def _chroma(
    x: torch.Tensor,
) -> torch.Tensor:  # max - min channel: brightness * contrast * saturation
    return (x.amax(1) - x.amin(1)).mean((-1, -2)) / (51 / 255)


def _hue(x: torch.Tensor) -> torch.Tensor:  # the hue shift (blends with gray keep the hue)
    return _rgb_to_hsv(x)[:, 0].mean((-1, -2)) - 0.5


JITTER_CASES = {
    # statistic: (input images, measure, its range under the report's jitter)
    "brightness": (lambda n: _const((128 / 255,) * 3, n), _brightness, (0.9, 1.1)),
    "contrast": (_two_levels, _contrast, (0.9**2, 1.1**2)),
    "saturation": (
        lambda n: _const((153 / 255, 102 / 255, 102 / 255), n),
        _chroma,
        (0.9**3, 1.1**3),
    ),
    "hue": (lambda n: _const((102 / 255, 153 / 255, 153 / 255), n), _hue, (-0.05, 0.05)),
}


@pytest.mark.parametrize("case", sorted(JITTER_CASES))
def test_color_jitter_matches_pil(case: str, pil_steps: tuple) -> None:
    jitter = pil_steps[2]
    make, measure, (low, high) = JITTER_CASES[case]
    torch.manual_seed(0)
    tensor_values = measure(
        _quantise(augment.color_jitter(make(N), torch.Generator().manual_seed(0)))
    )
    pil = _as_pil_image(make(1)[0])
    pil_values = measure(torch.stack([TF.to_tensor(jitter(pil)) for _ in range(N)]))
    _same_distribution(tensor_values, pil_values)
    slack = 0.025 * (high - low) + 2.5 / 255  # 8-bit rounding of the measured images
    for values in (tensor_values, pil_values):
        assert low - slack <= float(values.min()) and float(values.max()) <= high + slack
        assert float(values.min()) < low + 0.1 * (high - low) and float(
            values.max()
        ) > high - 0.1 * (high - low)


# --------------------------------------------------------------------------- the two pipelines
@pytest.fixture(scope="module")
def tiny_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("pipelines") / "data"
    synthetic.make_synthetic_dataset(
        root, num_train=48, num_val=16, num_test=8, image_size=40, seed=1
    )
    return root


def _both_pipelines(root: Path, **options: object) -> tuple:
    config = dict(config_mod.DEFAULTS, image_size=32, resize_size=36, batch_size=16, workers=0)
    config.update(options)
    runtime = SimpleNamespace(device=torch.device("cpu"), world_size=1, rank=0, is_main=True)
    splits = pipeline.read_splits(config, root)
    return pipeline.build_pil_data(config, root, runtime, splits), pipeline.build_tensor_data(
        config, root, runtime, splits
    )


@pytest.mark.parametrize("mode", ["minority", "all"])
def test_pipelines_give_identical_batches_without_augmentation(tiny_root: Path, mode: str) -> None:
    pil, tensor = _both_pipelines(tiny_root, augment=False, mixup=mode)
    mixed_rows = 0
    pairs = list(zip(pil.train_batches(0, 7), tensor.train_batches(0, 7), strict=True))
    assert len(pairs) == 3
    for (xa, ya), (xb, yb) in pairs:
        assert torch.equal(ya, yb)
        torch.testing.assert_close(xa, xb, atol=1e-6, rtol=0)
        mixed_rows += int((ya.amax(1) < 1).sum())
    assert mixed_rows > 0  # some rows were mixed with a partner of other labels
    for (xa, ya), (xb, yb) in zip(pil.val_loader, tensor.val_loader, strict=True):
        assert torch.equal(ya, yb)
        torch.testing.assert_close(xa, xb, atol=1e-6, rtol=0)


def test_pipelines_mix_labels_alike_with_augmentation(tiny_root: Path) -> None:
    pil, tensor = _both_pipelines(tiny_root, augment=True, oversample=True)
    for epoch in (0, 1):
        batches = zip(
            pil.train_batches(epoch, 11 + epoch),
            tensor.train_batches(epoch, 11 + epoch),
            strict=True,
        )
        for (xa, ya), (xb, yb) in batches:
            assert torch.equal(ya, yb)
            assert xa.shape == xb.shape and not torch.equal(xa, xb)  # augmented differently
