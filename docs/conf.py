"""Sphinx configuration of the imbalml documentation.

Build (offline, warning-free)::

    sphinx-build -W --keep-going -b html docs docs/_build/html
    sphinx-build -W --keep-going -b doctest docs docs/_build/doctest   # run the guide's examples

The API reference is generated from each public module's ``__all__`` by ``_ext/imbalml_api.py``.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

DOCS = Path(__file__).resolve().parent
ROOT = DOCS.parent
# Document this checkout's source, not whatever imbalml an environment has installed.
sys.path.insert(0, str(ROOT / "src"))
sys.path.insert(0, str(DOCS / "_ext"))

import warnings  # noqa: E402

import imbalml  # noqa: E402

# sphinx-autodoc-typehints 3.6 calls an API that Sphinx 9 deprecates; nothing to act on here.
warnings.filterwarnings("ignore", message=r".*set_application.* is deprecated")

project = "imbalml"
author = "the imbalml developers"
copyright = "the imbalml developers, BSD-3-Clause"  # noqa: A001
release = imbalml.__version__
version = release

extensions = [
    "sphinx.ext.autodoc",
    "sphinx.ext.autosummary",
    "sphinx.ext.napoleon",
    "sphinx_autodoc_typehints",  # after napoleon
    "sphinx.ext.intersphinx",
    "sphinx.ext.mathjax",
    # MathJax from the build, not a CDN: copies the sphinx-mathjax-offline package's MathJax 3 into
    # _static/mathjax and points mathjax_path there, so the maths renders without internet.
    "sphinx-mathjax-offline",
    "sphinx.ext.doctest",
    "sphinx.ext.viewcode",
    "myst_parser",
    "imbalml_api",
]

source_suffix = {".rst": "restructuredtext", ".md": "markdown"}
root_doc = "index"
exclude_patterns = ["_build", "**.inc", "Thumbs.db", ".DS_Store"]
templates_path: list[str] = []
default_role = "py:obj"
nitpicky = True  # every cross-reference must resolve (-W turns misses into errors)

# -- API reference ------------------------------------------------------------------------------
# One page per module, listing everything in its __all__ (see _ext/imbalml_api.py). A module that
# does not exist in this tree is left out with a note; any other import error fails the build.
imbalml_api_modules = [
    "imbalml",
    "imbalml.functional",
    "imbalml.losses",
    "imbalml.metrics",
    "imbalml.mixup",
    "imbalml.samplers",
    "imbalml.thresholds",
    "imbalml.weights",
    "imbalml.data",
    "imbalml.models",
    "imbalml.models.van",  # the timm model functions van_b0 .. van_b3, test_van
]
autosummary_generate = False  # the pages are written by imbalml_api
autodoc_member_order = "bysource"
autodoc_typehints = "description"
autodoc_preserve_defaults = True
typehints_use_signature = False
typehints_document_rtype = True
always_use_bars_union = True
typehints_defaults = None

napoleon_google_docstring = True
napoleon_numpy_docstring = False
napoleon_use_ivar = True
napoleon_use_rtype = False
napoleon_custom_sections = ["Shape", "Modes"]

# -- Cross-references to other projects -----------------------------------------------------------
# The build must pass offline. Inventories are used when a copy lies in docs/_inventories/NAME.inv,
# or fetched when IMBALML_DOCS_INTERSPHINX=1 (an online build); otherwise references to these
# projects render as plain names and are exempt from the nitpicky check below.
_INVENTORIES = {
    "python": "https://docs.python.org/3",
    "torch": "https://pytorch.org/docs/stable",
    "numpy": "https://numpy.org/doc/stable",
    "torchmetrics": "https://lightning.ai/docs/torchmetrics/stable",
}
_ONLINE = os.environ.get("IMBALML_DOCS_INTERSPHINX") == "1"
intersphinx_mapping: dict[str, tuple[str, str | None]] = {}
for _name, _url in _INVENTORIES.items():
    _local = DOCS / "_inventories" / f"{_name}.inv"
    if _local.is_file():
        intersphinx_mapping[_name] = (_url, str(_local))
    elif _ONLINE:
        intersphinx_mapping[_name] = (_url, None)
intersphinx_timeout = 10

_EXTERNAL = (
    r"(torch|torchvision|torchmetrics|timm|numpy|np|PIL|sklearn|iterstrat|safetensors|nn|F)"
    r"(\..*)?"
)
_STDLIB = (
    r"(typing|collections|collections\.abc|os|pathlib|argparse|types|abc|enum|dataclasses)\..*"
    r"|(int|float|str|bool|bytes|tuple|list|dict|set|frozenset|slice|type|object|None|callable"
    r"|Callable|Any|Sequence|Mapping|Iterable|Iterator|Literal|Path|PathLike|NamedTuple"
    r"|ValueError|TypeError|ImportError|ModuleNotFoundError|FileNotFoundError|RuntimeError|KeyError|Exception)"
)
nitpick_ignore_regex = [
    (r"py:.*", _EXTERNAL),
    (r"py:.*", _STDLIB),
    (r"py:.*", r"(Tensor|Module|Generator|Sampler|Dataset|Metric|dtype|device|Ellipsis)"),
]

# -- Runnable examples (sphinx-build -b doctest) --------------------------------------------------
# Only explicit ``.. doctest::`` blocks of the guide pages run here; the docstring examples of the
# API pages already run under ``pytest --doctest-modules``. ``missing(name)`` lets a guide block
# name a module that a partial checkout may not have (``:skipif: missing("imbalml.models")``).
doctest_test_doctest_blocks = ""
doctest_global_setup = """
import importlib.util as _ilu


def missing(name):
    try:
        return _ilu.find_spec(name) is None
    except ModuleNotFoundError:
        return True
"""
import doctest as _doctest  # noqa: E402

doctest_default_flags = (
    _doctest.ELLIPSIS | _doctest.NORMALIZE_WHITESPACE | _doctest.DONT_ACCEPT_TRUE_FOR_1
)

# -- Markdown -----------------------------------------------------------------------------------
myst_enable_extensions = ["dollarmath", "colon_fence"]
myst_heading_anchors = 3

# -- HTML -----------------------------------------------------------------------------------------
html_theme = "furo"
html_title = f"imbalml {release}"
html_static_path = ["_static"]
html_css_files = ["custom.css"]
html_theme_options = {"navigation_with_keys": True}
pygments_style = "sphinx"
pygments_dark_style = "monokai"
