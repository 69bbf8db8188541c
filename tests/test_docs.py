"""The documentation: it builds warning-free, its guide examples run, and it covers the public API."""

from __future__ import annotations

import importlib
import inspect
import pkgutil
import re
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

import imbalml

ROOT = Path(__file__).resolve().parents[1]
DOCS = ROOT / "docs"


def _api_extension():
    sys.path.insert(0, str(DOCS / "_ext"))
    try:
        return importlib.import_module("imbalml_api")
    finally:
        sys.path.remove(str(DOCS / "_ext"))


def _listed_modules() -> list[str]:
    """``imbalml_api_modules`` from docs/conf.py, read without executing the configuration."""
    text = (DOCS / "conf.py").read_text(encoding="utf-8")
    block = re.search(r"imbalml_api_modules = \[(.*?)\]", text, re.S)
    assert block, "docs/conf.py has no imbalml_api_modules list"
    return re.findall(r'"([\w.]+)"', block.group(1))


def _sphinx(builder: str, out: Path, doctrees: Path) -> str:
    command = [sys.executable, "-m", "sphinx", "-W", "--keep-going", "-q", "-b", builder]
    command += ["-d", str(doctrees), str(DOCS), str(out)]
    result = subprocess.run(command, capture_output=True, text=True, timeout=900, cwd=ROOT)
    output = result.stdout + result.stderr
    assert result.returncode == 0, f"sphinx-build -b {builder} failed:\n{output[-6000:]}"
    return output


@pytest.mark.slow
def test_docs_build_warning_free_and_guide_examples_run(tmp_path: Path) -> None:
    doctrees = tmp_path / "doctrees"
    _sphinx("html", tmp_path / "html", doctrees)
    html = tmp_path / "html"
    for page in ["index", "getting_started", "guide/losses", "guide/thresholds", "example", "api/index",
                 "changelog"]:
        assert (html / f"{page}.html").is_file(), page
    _assert_mathjax_is_bundled(html)
    # Every public object got its page (the listed modules present in this tree).
    _, _, entries = _api_extension().collect(_listed_modules())
    pages = {p.stem for p in (html / "api" / "generated" / "objects").glob("*.html")}
    assert {e.fullname for e in entries.values()} <= pages
    # The guide's examples, through the doctest builder (reusing the parsed documents).
    _sphinx("doctest", tmp_path / "doctest", doctrees)
    report = (tmp_path / "doctest" / "output.txt").read_text(encoding="utf-8")
    ran = re.search(r"^\s+(\d+) tests$", report, re.M)
    assert ran and int(ran.group(1)) >= 50, report[-3000:]
    assert re.search(r"^\s+0 failures in tests$", report, re.M), report[-3000:]


def _assert_mathjax_is_bundled(html: Path) -> None:
    """The maths renders offline: pages load MathJax from ``_static``, no page names a remote MathJax."""
    script = html / "_static" / "mathjax" / "tex-chtml.js"
    assert script.is_file() and script.stat().st_size > 100_000  # the real MathJax 3 bundle
    fonts = list((html / "_static" / "mathjax" / "output" / "chtml" / "fonts" / "woff-v2").glob("*.woff"))
    assert len(fonts) > 10  # the fonts its CommonHTML output loads, beside it
    remote = re.compile(r"""(src|href)=["'](https?:)?//[^"']*mathjax""", re.I)
    pages = sorted(html.rglob("*.html"))
    with_math = []
    for page in pages:
        text = page.read_text(encoding="utf-8")
        assert not remote.search(text), f"{page.relative_to(html)} loads MathJax from the network"
        if "_static/mathjax/tex-chtml.js" in text:
            with_math.append(page.relative_to(html).as_posix())
    assert "guide/losses.html" in with_math  # a page with maths loads the bundled script


def test_every_public_name_is_in_the_api_reference() -> None:
    """A name in any public module's ``__all__`` is exported by a module the reference lists."""
    listed = _listed_modules()
    _, _, entries = _api_extension().collect(listed)
    documented = {id(e.obj) for e in entries.values()}
    missing = []
    for info in pkgutil.walk_packages(imbalml.__path__, "imbalml."):
        if any(part.startswith("_") for part in info.name.split(".")):
            continue
        module = importlib.import_module(info.name)
        for name in getattr(module, "__all__", []):
            obj = getattr(module, name)
            if name.startswith("__") or inspect.ismodule(obj):
                continue
            if id(obj) not in documented:
                missing.append(f"{info.name}.{name}")
    assert not missing, f"public names missing from docs/conf.py's imbalml_api_modules: {missing}"
    top_level = set(imbalml.__all__) - {"__version__", "functional"}
    assert {e.name for e in entries.values()} >= top_level


def test_every_public_class_and_function_has_a_runnable_example() -> None:
    """Each API page shows an example; ``pytest --doctest-modules`` runs it."""
    _, _, entries = _api_extension().collect(_listed_modules())
    without = sorted(
        e.fullname
        for e in entries.values()
        if e.kind != "data" and ">>>" not in (inspect.getdoc(e.obj) or "")
    )
    assert not without, f"public names whose docstring has no `>>>` example: {without}"


def test_api_entries_live_in_the_defining_module() -> None:
    _, _, entries = _api_extension().collect(_listed_modules())
    by_name = {e.name: e for e in entries.values()}
    assert by_name["AttributeGroups"].canonical == "imbalml"  # imbalml.groups is not listed
    assert by_name["MeanClassAccuracy"].canonical == "imbalml.metrics"
    assert by_name["MeanClassAccuracy"].exported_by == ["imbalml", "imbalml.metrics"]
    assert by_name["label_counts"].canonical == "imbalml.data"
    assert by_name["grouped_softmax"].kind == "function"


def _readme_commands() -> dict[str, str]:
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    found = re.findall(r"<!-- readme-command: (\w+) -->\n```\w*\n(.*?)\n```", text, re.S)
    return dict(found)


def test_getting_started_shows_the_readme_commands_verbatim() -> None:
    commands = _readme_commands()
    assert set(commands) == {"run", "test"}
    page = (DOCS / "getting_started.rst").read_text(encoding="utf-8")
    blocks = re.findall(r"\.\. code-block:: bash\n\n((?:   .*\n)+)", page)
    shown = [textwrap.dedent(b).strip() for b in blocks]
    assert shown[:2] == [commands["run"], commands["test"]]


def test_readme_says_how_to_build_the_docs() -> None:
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    assert 'pip install -e ".[docs]"' in text
    assert "sphinx-build -W --keep-going -b html docs docs/_build/html" in text
