"""Backbones registered with timm.

``import imbalml.models`` registers ``van_b0``, ``van_b1``, ``van_b2``, ``van_b3`` and the tiny
``test_van`` with timm (``timm.create_model("van_b0", num_classes=0)``). ``import imbalml`` alone
does not import this package, so the core library does not pay for importing timm's model zoo.
"""

from imbalml.models.van import VAN
from imbalml.models.van_weights import LoadResult, convert_van_state_dict, load_van_weights

__all__ = ["LoadResult", "VAN", "convert_van_state_dict", "load_van_weights"]
