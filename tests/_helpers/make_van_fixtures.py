"""Regenerate ``tests/data/van_*_reference.safetensors``: outputs of two independent VAN codes.

Each fixture holds a small random VAN (``FIXTURE_CONFIG``) in the layout of one reference
implementation, stored in float16 (the weights are rounded to float16 before the forward pass, so
nothing is lost), and that implementation's float32 outputs in eval mode on ``fixture_input()``:

- ``van_hf_reference.safetensors``: Hugging Face transformers 4.46.3 (the last release with VAN),
  ``VanForImageClassification``. Needs ``pip install transformers==4.46.3 "huggingface_hub<1"``
  (e.g. ``pip install --target /tmp/hf transformers==4.46.3 tokenizers==0.20.3
  "huggingface_hub<1" --no-deps`` and ``PYTHONPATH=/tmp/hf``).
- ``van_original_reference.safetensors``: the authors' ``models/van.py`` from
  https://github.com/Visual-Attention-Network/VAN-Classification (pass its path).

Run from the repository root:
``python tests/_helpers/make_van_fixtures.py --original /path/to/VAN-Classification/models/van.py``
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import sys
from functools import partial
from pathlib import Path

import torch

FIXTURE_CONFIG = {
    "embed_dims": (4, 8, 12, 16),
    "depths": (1, 2, 1, 1),
    "mlp_ratios": (8, 8, 4, 4),
    "num_classes": 5,
}
DATA = Path(__file__).resolve().parents[1] / "data"


def fixture_input() -> torch.Tensor:
    """A deterministic (2, 3, 64, 64) image batch defined by a formula (nothing stored)."""
    n, c, h, w = torch.meshgrid(
        *(torch.arange(s, dtype=torch.float64) for s in (2, 3, 64, 64)), indexing="ij"
    )
    x = torch.sin(0.37 * h + 0.71 * w + 1.3 * c + 2.1 * n) + 0.5 * torch.cos(0.05 * h * w - c)
    return x.float()


def _save(path: Path, state_dict: dict, outputs: dict, meta: dict) -> None:
    from safetensors.torch import save_file

    tensors = {f"weights.{k}": v.detach().half().contiguous() for k, v in state_dict.items()}
    tensors.update({k: v.detach().float().contiguous() for k, v in outputs.items()})
    save_file(tensors, path, metadata={k: json.dumps(v) for k, v in meta.items()})
    print(f"wrote {path} ({path.stat().st_size} bytes)")


def make_hf(seed: int = 1) -> None:
    import transformers
    from transformers.models.deprecated.van import VanConfig, VanForImageClassification

    from _helpers.van_layouts import randomize_

    cfg = FIXTURE_CONFIG
    config = VanConfig(
        hidden_sizes=list(cfg["embed_dims"]),
        depths=list(cfg["depths"]),
        mlp_ratios=list(cfg["mlp_ratios"]),
        num_labels=cfg["num_classes"],
    )
    model = randomize_(VanForImageClassification(config), seed).eval()
    with torch.no_grad():
        out = model(fixture_input(), output_hidden_states=True)
        features = model.van(fixture_input()).last_hidden_state
        pooled = model.van(fixture_input()).pooler_output
    meta = {"generator": f"transformers {transformers.__version__} VanForImageClassification"}
    meta["config"] = FIXTURE_CONFIG
    outputs = {"logits": out.logits, "pooled": pooled, "features": features}
    _save(DATA / "van_hf_reference.safetensors", model.state_dict(), outputs, meta)


def make_original(path: Path, seed: int = 2) -> None:
    from torch import nn

    from _helpers.van_layouts import randomize_

    spec = importlib.util.spec_from_file_location("van_original", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    cfg = FIXTURE_CONFIG
    model = module.VAN(
        embed_dims=list(cfg["embed_dims"]),
        depths=list(cfg["depths"]),
        mlp_ratios=list(cfg["mlp_ratios"]),
        num_classes=cfg["num_classes"],
        norm_layer=partial(nn.LayerNorm, eps=1e-6),
    )
    model = randomize_(model, seed).eval()
    with torch.no_grad():
        pooled = model.forward_features(fixture_input())
        logits = model.head(pooled)
    meta = {"generator": f"VAN-Classification models/van.py ({path.name})", "config": cfg}
    _save(
        DATA / "van_original_reference.safetensors",
        model.state_dict(),
        {"logits": logits, "pooled": pooled},
        meta,
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--original", type=Path, help="path to VAN-Classification/models/van.py")
    parser.add_argument("--skip-hf", action="store_true")
    args = parser.parse_args()
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    DATA.mkdir(exist_ok=True)
    if not args.skip_hf:
        make_hf()
    if args.original:
        make_original(args.original)


if __name__ == "__main__":
    main()
