"""Throughput of imbalml's VAN-B0 against Hugging Face transformers' VanModel, in the same run.

Measures images per second of inference (eval, no grad) and of one training step (forward,
backward, AdamW step) at ``--img-size`` (224) and ``--batch-size`` (32), for:

- ``imbalml``: ``timm.create_model("van_b0", num_classes=0)`` as a user gets it (contiguous input;
  on CPU its fast path runs channels-last with a polyphase dilated convolution),
- ``imbalml-plain``: the same with ``fast_cpu=False`` (the straightforward computation),
- ``hf``: transformers 4.46.3 ``VanModel`` (van-tiny config), when importable,

each also with a channels-last model and input (``+cl``). Configurations are interleaved, each
timed ``--rounds`` times after a warm-up step; the best and median are reported, with ratios
against ``hf`` (or ``imbalml-plain`` when transformers is absent). On a shared machine, use
``--threads 1 --clock thread`` (CPU time of the calling thread, insensitive to other processes).
Before timing, the script loads the HF model's random weights into imbalml's model with
``load_weights`` and prints the largest output difference (a live cross-check).

transformers 4.46.3 wants ``huggingface_hub<1``; install it aside, e.g.
``pip install --target /tmp/hf --no-deps transformers==4.46.3 tokenizers==0.20.3 "huggingface_hub<1" regex``
and run with ``PYTHONPATH=/tmp/hf``.

Example (quick): ``python benchmarks/bench_van.py --batch-size 8 --rounds 2 --img-size 160``
"""

from __future__ import annotations

import argparse
import copy
import json
import statistics
import time
from collections.abc import Callable

import timm
import torch
from _results import add_output_arguments, table, write_section
from torch import nn

import imbalml.models  # noqa: F401  (registers van_b0 with timm)
from imbalml.models import load_weights

VAN_TINY = {"hidden_sizes": [32, 64, 160, 256], "depths": [3, 3, 5, 2], "mlp_ratios": [8, 8, 4, 4]}


def hf_model() -> nn.Module | None:
    try:
        from transformers.models.deprecated.van import VanConfig, VanModel
    except ImportError:
        return None
    return VanModel(VanConfig(**VAN_TINY))


class _Pooled(nn.Module):
    """HF VanModel returning the pooled features (N, 256), like imbalml's feature extractor."""

    def __init__(self, model: nn.Module) -> None:
        super().__init__()
        self.model = model

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.model(x).pooler_output


def build(name: str, hf: nn.Module | None) -> nn.Module:
    base = name.removesuffix("+cl")
    if base == "hf":
        assert hf is not None
        return _Pooled(copy.deepcopy(hf))  # own copy: `+cl` converts parameters in place
    model = timm.create_model("van_b0", num_classes=0, fast_cpu=base != "imbalml-plain")
    if hf is not None:  # same weights as the HF model, via the converter
        load_weights(model, hf.state_dict())
    return model


def cross_check(hf: nn.Module, img_size: int) -> float:
    ours = build("imbalml", hf).eval()
    x = torch.randn(2, 3, img_size, img_size, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        return (ours(x) - _Pooled(hf).eval()(x)).abs().max().item()


def make_step(model: nn.Module, x: torch.Tensor, train: bool) -> Callable[[], None]:
    if not train:
        model.eval()

        def infer() -> None:
            with torch.inference_mode():
                model(x)

        return infer
    model.train()
    opt = torch.optim.AdamW(model.parameters(), lr=1e-4)

    def step() -> None:
        loss = model(x).float().square().mean()
        loss.backward()
        opt.step()
        opt.zero_grad(set_to_none=True)

    return step


def timed(step: Callable[[], None], device: torch.device, clock: str) -> float:
    sync = torch.cuda.synchronize if device.type == "cuda" else (lambda: None)
    now = time.thread_time if clock == "thread" else time.perf_counter
    sync()
    start = now()
    step()
    sync()
    return now() - start


def run(args: argparse.Namespace) -> dict:
    torch.manual_seed(0)
    if args.threads:
        torch.set_num_threads(args.threads)
    device = torch.device(
        args.device if args.device != "auto" else ("cuda" if torch.cuda.is_available() else "cpu")
    )
    if args.clock == "thread" and (device.type != "cpu" or torch.get_num_threads() != 1):
        raise SystemExit("--clock thread needs --device cpu --threads 1")
    hf = hf_model()
    names = ["imbalml", "imbalml+cl", "imbalml-plain", "imbalml-plain+cl"]
    if hf is not None:
        names = ["hf", "hf+cl", *names]
        print(f"cross-check: max |imbalml - hf| = {cross_check(hf, 64):.2e} (same weights)")
    else:
        print("transformers VanModel not importable: comparing with imbalml-plain only")
    baseline = names[0]
    results: dict = {
        "device": str(device),
        "threads": torch.get_num_threads(),
        "batch_size": args.batch_size,
        "img_size": args.img_size,
        "clock": args.clock,
    }
    for mode in args.modes:
        train = mode == "train"
        steps = {}
        for name in names:
            model = build(name, hf).to(device)
            x = torch.randn(args.batch_size, 3, args.img_size, args.img_size, device=device)
            if name.endswith("+cl"):
                model = model.to(memory_format=torch.channels_last)
                x = x.contiguous(memory_format=torch.channels_last)
            steps[name] = make_step(model, x, train)
            steps[name]()  # warm-up
        times: dict[str, list[float]] = {n: [] for n in names}
        for _ in range(args.rounds):
            for name in names:
                times[name].append(timed(steps[name], device, args.clock))
        best = {n: args.batch_size / min(t) for n, t in times.items()}
        median = {n: args.batch_size / statistics.median(t) for n, t in times.items()}
        print(
            f"\n{mode} ({device}, batch {args.batch_size}, {args.img_size}px, {results['threads']} threads, {args.clock} clock)"
        )
        print(f"{'config':18s} {'best img/s':>11s} {'median':>9s} {'x ' + baseline:>12s}")
        for n in names:
            ratio = best[n] / best[baseline]
            print(f"{n:18s} {best[n]:11.2f} {median[n]:9.2f} {ratio:12.2f}")
        results[mode] = {"best": best, "median": median, "baseline": baseline}
        del steps
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--img-size", type=int, default=224)
    parser.add_argument("--rounds", type=int, default=3, help="timed steps per configuration")
    parser.add_argument(
        "--modes", nargs="+", default=["forward", "train"], choices=["forward", "train"]
    )
    parser.add_argument("--device", default="auto", help="auto (cuda when present), cpu or cuda")
    parser.add_argument("--threads", type=int, default=0, help="torch CPU threads (0: default)")
    parser.add_argument("--clock", choices=["wall", "thread"], default="wall")
    parser.add_argument("--json", help="also write the results to this file")
    add_output_arguments(parser)
    args = parser.parse_args()
    results = run(args)
    if args.json:
        with open(args.json, "w") as f:
            json.dump(results, f, indent=2)
    rows = []
    for mode in args.modes:
        r = results[mode]
        for name, best in r["best"].items():
            ratio = best / r["best"][r["baseline"]]
            rows.append([mode, name, f"{best:.2f}", f"{r['median'][name]:.2f}", f"{ratio:.2f}"])
    body = (
        f"Images per second, batch {args.batch_size} at {args.img_size} px, {results['threads']} thread(s), "
        f"{args.clock} clock, best and median of {args.rounds} interleaved rounds; ratio of the best to "
        f"`{results[args.modes[0]]['baseline']}` (transformers' VanModel when importable).\n\n"
        + table(["mode", "config", "best img/s", "median img/s", "ratio"], rows)
    )
    write_section(
        f"bench_van {results['device'].split(':')[0]}", body, args, device=results["device"]
    )


if __name__ == "__main__":
    main()
