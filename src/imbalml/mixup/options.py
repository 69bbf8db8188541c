"""The hyperparameters :class:`~imbalml.MixupCollator` and :class:`~imbalml.BatchMixup` share.

Both classes take the same arguments (each lists them in its own signature) and draw their plans
the same way; :class:`_MixupOptions` checks the arguments, holds them, and draws a batch's plan,
so the two classes differ only in where the batch lives (CPU workers or the device).
"""

from __future__ import annotations

from typing import Any

import torch

from imbalml._layout_checks import check_optional_groups
from imbalml._validation import check_int
from imbalml.data.stats import check_counts
from imbalml.functional.mixup.minority import check_minority, minority_attributes, minority_mask
from imbalml.functional.mixup.plan import MixupPlan, _check_generator, _check_options, mixup_plan
from imbalml.groups import AttributeGroups


def _minority(
    groups: AttributeGroups | None,
    counts: Any,
    minority: Any,
    count_threshold: float | None,
) -> torch.Tensor:
    """The bool ``(C,)`` minority mask: given, or from ``counts`` and ``count_threshold``."""
    c = None if groups is None else groups.num_attributes
    if (counts is None) == (minority is None):
        raise TypeError(
            "Expected exactly one of `counts` (training counts, from which the minority "
            "attributes follow) and `minority` (an explicit bool (C,) mask), but got "
            + ("both." if counts is not None else "neither.")
        )
    if minority is not None:
        if count_threshold is not None:
            raise ValueError(
                "Expected `count_threshold=None` with an explicit `minority` mask, "
                f"but got {count_threshold!r}."
            )
        return check_minority(minority, c).cpu()
    counts = check_counts(counts, groups)
    return minority_attributes(counts, count_threshold=count_threshold).cpu()


def _generator(seed: int | None, generator: torch.Generator | None) -> torch.Generator:
    if seed is not None and generator is not None:
        raise ValueError("Expected at most one of `seed` and `generator`, but got both.")
    if generator is not None:
        return _check_generator(generator)
    made = torch.Generator()
    if seed is None:
        made.seed()  # fresh entropy from the OS, not from torch's global generator
    else:
        made.manual_seed(check_int(seed, "seed", low=0))
    return made


def _generator_bytes(generator: torch.Generator) -> bytes:
    return generator.get_state().numpy().tobytes()


def _restore_generator(state: bytes) -> torch.Generator:
    generator = torch.Generator()
    generator.set_state(torch.frombuffer(bytearray(state), dtype=torch.uint8))
    return generator


def _picklable(state: dict[str, Any]) -> dict[str, Any]:
    """``state`` with its generator as bytes.

    A torch.Generator (or a temporary state tensor) fails to unpickle under the spawn and
    forkserver start methods: torch shares tensors through shared memory, and a temporary's
    segment is gone before the worker reads it. Its state travels as bytes instead.
    """
    return dict(state, generator=_generator_bytes(state["generator"]))


def _unpickled(state: dict[str, Any]) -> dict[str, Any]:
    """The inverse of :func:`_picklable`."""
    return dict(state, generator=_restore_generator(state["generator"]))


class _MixupOptions:
    """Checked mixup hyperparameters and the plan draw; the base of both mixup classes.

    Each class lists its own arguments (those of :class:`~imbalml.MixupCollator`; see there) and
    hands them to :meth:`_set_options`, the one check of them. A subclass that is an
    ``nn.Module`` gets ``minority`` as a non-persistent buffer, so it follows ``.to(device)``.
    """

    minority: torch.Tensor
    #: The CPU generator every draw comes from (save its state to resume).
    generator: torch.Generator

    def _set_options(
        self,
        *,
        groups: AttributeGroups | None,
        counts: Any,
        minority: Any,
        mode: str,
        alpha: float,
        beta: float,
        count_threshold: float | None,
        p: float,
        per_sample_lam: bool,
        seed: int | None,
        generator: torch.Generator | None,
        ignore_index: int,
    ) -> None:
        """Check the options and store them (``nn.Module.__init__`` must have run)."""
        self.groups = check_optional_groups(groups)
        mask = _minority(self.groups, counts, minority, count_threshold)
        if isinstance(self, torch.nn.Module):
            self.register_buffer("minority", mask, persistent=False)
        else:
            self.minority = mask
        self.mode, self.alpha, self.beta, self.p = _check_options(mode, alpha, beta, p)
        self.per_sample_lam = bool(per_sample_lam)
        self.ignore_index = check_int(ignore_index, "ignore_index")
        self.generator = _generator(seed, generator)

    def _plan(self, soft: torch.Tensor, generator: torch.Generator) -> MixupPlan:
        """Draw the plan for a batch of soft targets ``(N, C)`` (unchecked: the caller checked)."""
        candidates = minority_mask(
            soft, self.groups, minority=self.minority, ignore_index=self.ignore_index,
            validate_args=False,
        )  # fmt: skip
        return mixup_plan(
            candidates,
            mode=self.mode,
            alpha=self.alpha,
            beta=self.beta,
            p=self.p,
            per_sample_lam=self.per_sample_lam,
            generator=generator,
        )

    def _summary(self) -> str:
        return (
            f"mode={self.mode!r}, alpha={self.alpha:g}, beta={self.beta:g}, p={self.p:g}, "
            f"minority={int(self.minority.sum())}/{self.minority.numel()} attributes"
        )
