"""Generic training machinery: device and process group, reductions across processes, seeds.

In the style of torchvision's ``references/classification/utils.py``: :class:`Runtime` sets up the
device, the process group (``torchrun`` environment) and the one autocast/scaler pair; its
methods reduce across processes and write checkpoints from the main process only.
"""

from __future__ import annotations

import contextlib
import logging
import os
from pathlib import Path
from typing import Any

import torch
import torch.distributed as dist

from .checkpoint import save_checkpoint

log = logging.getLogger("fashion")


def resolve_device(requested: str) -> torch.device:
    """``--device``: ``auto`` is ``cuda`` where CUDA is available, else ``cpu``; a CUDA device must exist."""
    if requested == "auto":
        requested = "cuda" if torch.cuda.is_available() else "cpu"
    device = torch.device(requested)
    if device.type == "cuda" and not torch.cuda.is_available():
        raise RuntimeError(f"--device {requested}: CUDA is not available on this machine.")
    return device


def cpu_has_native_bf16() -> bool:
    """Whether oneDNN runs bfloat16 natively on this CPU (AVX512-BF16 or AMX); ``True`` if unknown."""
    try:
        return bool(torch.ops.mkldnn._is_mkldnn_bf16_supported())
    except (AttributeError, RuntimeError):  # a build without oneDNN: nothing to say
        return True


class Runtime:
    """Device, process group and the autocast/scaler pair: one AMP path for every setting."""

    def __init__(self, config: dict[str, Any]) -> None:
        self.world_size = int(os.environ.get("WORLD_SIZE", "1"))
        self.rank = int(os.environ.get("RANK", "0"))
        local_rank = int(os.environ.get("LOCAL_RANK", "0"))
        device = resolve_device(config["device"])
        if device.type == "cuda":
            if self.world_size > 1:
                device = torch.device("cuda", local_rank)
            torch.cuda.set_device(device)
        self.device = device
        configure_determinism(device, bool(config.get("deterministic", False)))
        self.distributed = self.world_size > 1
        if self.distributed and not dist.is_initialized():
            dist.init_process_group("nccl" if device.type == "cuda" else "gloo")
        amp = config["amp"]
        if amp == "bf16" and device.type == "cpu" and not cpu_has_native_bf16():
            log.warning("--amp bf16 on a CPU without native bfloat16 (AVX512-BF16 or AMX): the matrix "
                        "products are emulated, about 10x slower than float32 for EfficientNet-Lite0 on an "
                        "AVX2 machine (measured); --amp off is faster here")
        self.amp_dtype = {"bf16": torch.bfloat16, "fp16": torch.float16}.get(amp)
        self.scaler = torch.amp.GradScaler(device.type, enabled=amp == "fp16")
        # Value checks (NaN labels, target sums) read tensors back to the host: a GPU
        # synchronisation per call, so they are off on CUDA, where the pipeline is trusted.
        self.check_values = device.type != "cuda"

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    def autocast(self) -> contextlib.AbstractContextManager[Any]:
        return torch.autocast(self.device.type, dtype=self.amp_dtype, enabled=self.amp_dtype is not None)

    def all_sum(self, *values: float) -> list[float]:
        if not self.distributed:
            return list(values)
        t = torch.tensor(values, dtype=torch.float64, device=self.device)
        dist.all_reduce(t)
        return t.tolist()

    def all_finite(self, value: torch.Tensor) -> bool:
        """Whether ``value`` is finite in every process (all processes skip a step, or none)."""
        finite = torch.isfinite(value).all()
        if not self.distributed:
            return bool(finite)
        flag = finite.to(torch.int32).reshape(1)
        dist.all_reduce(flag, op=dist.ReduceOp.MIN)
        return bool(flag)

    def gather(self, tensor: torch.Tensor) -> torch.Tensor:
        """Concatenate a CPU tensor's shards from every process (rank order)."""
        if not self.distributed:
            return tensor
        parts: list[Any] = [None] * self.world_size
        dist.all_gather_object(parts, tensor.cpu())
        return torch.cat(parts)

    def barrier(self) -> None:
        if self.distributed:
            dist.barrier()

    def save_checkpoint(self, path: str | Path, state: dict[str, Any]) -> None:
        """:func:`~fashion_recipe.checkpoint.save_checkpoint` in the main process; the others write nothing."""
        if self.is_main:
            save_checkpoint(path, state)

    def close(self) -> None:
        if self.distributed and dist.is_initialized():
            dist.destroy_process_group()


def configure_determinism(device: torch.device, deterministic: bool) -> None:
    """Let cuDNN autotune (fast; kernels may differ from run to run), or use deterministic kernels.

    ``deterministic`` (``--deterministic true``): cuDNN's benchmark mode off, its deterministic
    algorithms on, ``torch.use_deterministic_algorithms`` (warning where an operation has no
    deterministic implementation) and cuBLAS's fixed workspace, so that a GPU run, and a resumed
    one, repeats bit for bit. Otherwise cuDNN picks its fastest kernels for the fixed image size.
    """
    if deterministic:
        os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")  # before the first cuBLAS call
    torch.use_deterministic_algorithms(deterministic, warn_only=True)
    if device.type == "cuda":
        torch.backends.cudnn.benchmark = not deterministic
        torch.backends.cudnn.deterministic = deterministic


def seed_epoch(seed: int, epoch: int, rank: int = 0) -> int:
    """The seed of one process's epoch: every random draw of epoch ``e`` derives from it.

    Augmentation, mixup partners and factors, dropout and drop-path differ between processes
    (``rank``) and between epochs, and repeat exactly in a resumed run. Rank 0 keeps the seeds of a
    single-process run. torch's CPU generator keeps only the low 32 bits of a seed, so the ranks
    are spread over those: rank ``r`` adds ``r`` times an odd constant modulo 2**32, which no two
    ranks of one epoch can share.
    """
    base = seed * 100_003 + epoch
    return base if rank == 0 else (base + rank * 0x9E3779B9) % 2**32
