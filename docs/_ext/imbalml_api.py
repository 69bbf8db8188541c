"""Generate the API reference from each public module's ``__all__``.

At ``builder-inited`` this writes, under ``api/generated/`` (git-ignored):

* one page per module listed in ``imbalml_api_modules``: the module docstring, a summary table of
  every public name the module's ``__all__`` holds, and the submodules it exports;
* one page per public object, at its *canonical* location: the listed module whose name is the
  longest prefix of the object's ``__module__`` (``AsymmetricLoss`` lives in ``imbalml.losses``
  and is listed again, as a link, under ``imbalml``);
* ``modules.inc``, the toctree that ``api/index.rst`` includes.

Nothing is written by hand, so a name added to an ``__all__`` appears in the reference on the next
build, and a name removed disappears. A listed module that does not exist (a feature not merged
into this tree yet) is left out and named in the index; any other import error fails the build.

References written to a re-export or to the defining module (``imbalml.MixupCollator``,
``imbalml.groups.AttributeGroups`` in type hints) are resolved to the canonical entry, and a
dotted name such as ``AttributeGroups.argmax`` that ends exactly one documented ``imbalml`` name
resolves to it, so cross-references work whichever public path a docstring uses.
"""

from __future__ import annotations

import importlib
import inspect
import sys
import types
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sphinx.application import Sphinx
from sphinx.pycode import ModuleAnalyzer
from sphinx.util import logging

logger = logging.getLogger(__name__)

GENERATED = Path("api") / "generated"
OBJECTS = "objects"
# Bases whose members are not repeated on our class pages (they are documented upstream).
EXTERNAL_BASES = "Module, Metric, Sampler, Dataset, tuple, object, Generic"


@dataclass
class Entry:
    """One public object and where it is documented."""

    name: str
    obj: Any
    canonical: str  # module whose page documents it
    kind: str  # "class", "function" or "data"
    exported_by: list[str] = field(default_factory=list)

    @property
    def fullname(self) -> str:
        return f"{self.canonical}.{self.name}"


def _import(name: str) -> types.ModuleType | None:
    """Import a module; ``None`` only when that very module does not exist."""
    try:
        return importlib.import_module(name)
    except ModuleNotFoundError as exc:
        if exc.name is not None and (name == exc.name or name.startswith(exc.name + ".")):
            return None
        raise


def _kind(obj: Any) -> str:
    if inspect.isclass(obj):
        return "class"
    if callable(obj):
        return "function"
    return "data"


def _underline(title: str, char: str = "=") -> str:
    return f"{title}\n{char * len(title)}\n"


def collect(
    module_names: list[str],
) -> tuple[dict[str, types.ModuleType], list[str], dict[int, Entry]]:
    """Import the listed modules and assign each public object its canonical module."""
    modules: dict[str, types.ModuleType] = {}
    missing: list[str] = []
    for name in module_names:
        module = _import(name)
        if module is None:
            missing.append(name)
        else:
            if not hasattr(module, "__all__"):
                raise ValueError(f"imbalml_api: module {name} has no __all__.")
            modules[name] = module
    entries: dict[int, Entry] = {}
    for mod_name, module in modules.items():
        for name in module.__all__:
            obj = getattr(module, name)
            if name.startswith("__") or inspect.ismodule(obj):
                continue
            entry = entries.get(id(obj))
            if entry is None:
                entry = entries[id(obj)] = Entry(name, obj, mod_name, _kind(obj))
            entry.exported_by.append(mod_name)
    for entry in entries.values():
        home = getattr(entry.obj, "__module__", None) if entry.kind != "data" else None
        if home:
            prefixes = [m for m in entry.exported_by if home == m or home.startswith(m + ".")]
            if prefixes:
                entry.canonical = max(prefixes, key=len)
    return modules, missing, entries


def _data_doc(entry: Entry) -> str:
    """The ``#:`` comment of a module-level constant, looked up where it is assigned."""
    package = entry.canonical
    candidates = [m for m in list(sys.modules) if m == package or m.startswith(package + ".")]
    for mod_name in sorted(candidates, key=len, reverse=True):
        module = sys.modules[mod_name]
        if getattr(module, entry.name, None) is not entry.obj:
            continue
        try:
            docs = ModuleAnalyzer.for_module(mod_name).find_attr_docs()
        except Exception:  # noqa: S112 - no source: try the next candidate
            continue
        lines = docs.get(("", entry.name))
        if lines:
            return "\n".join(lines).strip()
    return ""


def object_page(entry: Entry) -> str:
    """The reST of one object's page."""
    out = [_underline(entry.fullname), f".. currentmodule:: {entry.canonical}\n"]
    if entry.kind == "class":
        out.append(
            f".. autoclass:: {entry.name}\n"
            "   :members:\n"
            f"   :inherited-members: {EXTERNAL_BASES}\n"
            "   :show-inheritance:\n"
        )
    elif entry.kind == "function":
        out.append(f".. autofunction:: {entry.name}\n")
    else:
        doc = _data_doc(entry)
        body = "\n".join("   " + line if line else "" for line in doc.splitlines())
        out.append(f".. py:data:: {entry.name}\n   :value: {entry.obj!r}\n\n{body}\n")
    if len(entry.exported_by) > 1:
        paths = ", ".join(f"``{m}.{entry.name}``" for m in entry.exported_by)
        out.append(f"\nImport it as any of {paths}.\n")
    return "\n".join(out)


def module_page(
    mod_name: str, module: types.ModuleType, entries: dict[int, Entry], listed: list[str]
) -> str:
    """The reST of one module's page."""
    own, reexported, submodules = [], [], []
    for name in module.__all__:
        obj = getattr(module, name)
        if inspect.ismodule(obj):
            if obj.__name__ in listed:
                submodules.append(obj.__name__)
            continue
        entry = entries.get(id(obj))
        if entry is None:
            continue
        (own if entry.canonical == mod_name else reexported).append(entry)
    out = [
        _underline(f"``{mod_name}``"),
        f".. automodule:: {mod_name}\n   :no-members:\n",
        f".. currentmodule:: {mod_name}\n",
    ]
    if own:
        out.append(f".. autosummary::\n   :toctree: {OBJECTS}\n   :nosignatures:\n")
        out.extend(f"   {e.name}" for e in own)
        out.append("")
    if reexported:
        out.append(
            "Also importable from here (documented in their own module):\n\n"
            ".. autosummary::\n   :nosignatures:\n"
        )
        for e in reexported:  # relative to the current module where possible (autosummary asks)
            prefix = mod_name + "."
            rel = e.fullname[len(prefix) :] if e.fullname.startswith(prefix) else e.fullname
            out.append(f"   ~{rel}")
        out.append("")
    if submodules:
        links = ", ".join(f":mod:`{s}`" for s in submodules)
        out.append(f"Submodules: {links}.\n")
    return "\n".join(out)


def _write(path: Path, text: str) -> None:
    """Write only when the text changed, so unchanged pages are not rebuilt."""
    if not path.exists() or path.read_text(encoding="utf-8") != text:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")


def generate(app: Sphinx) -> None:
    listed = list(app.config.imbalml_api_modules)
    modules, missing, entries = collect(listed)
    out = Path(app.srcdir) / GENERATED
    wanted: set[Path] = set()
    for mod_name, module in modules.items():
        path = out / f"{mod_name}.rst"
        _write(path, module_page(mod_name, module, entries, listed))
        wanted.add(path)
    for entry in entries.values():
        path = out / OBJECTS / f"{entry.fullname}.rst"
        _write(path, object_page(entry))
        wanted.add(path)
    toc = [".. toctree::", "   :maxdepth: 1", ""]
    toc += [f"   generated/{m}" for m in modules]
    if missing:
        names = ", ".join(f"``{m}``" for m in missing)
        toc += ["", f".. note:: Not part of this build (not merged yet): {names}."]
    _write(out / "modules.inc", "\n".join(toc) + "\n")
    for stale in list(out.rglob("*.rst")):
        if stale not in wanted:
            stale.unlink()
    # Aliases for reference resolution: every exported path and the defining module's path.
    aliases: dict[str, str] = {}
    for entry in entries.values():
        for mod_name in entry.exported_by:
            aliases[f"{mod_name}.{entry.name}"] = entry.fullname
        home = getattr(entry.obj, "__module__", None)
        qualname = getattr(entry.obj, "__qualname__", None)
        if home and qualname and entry.kind != "data":
            aliases[f"{home}.{qualname}"] = entry.fullname
    app.env.imbalml_api_aliases = aliases  # type: ignore[attr-defined]
    app.env.imbalml_api_missing = missing  # type: ignore[attr-defined]
    if missing:
        logger.info("imbalml_api: not importable, left out: %s", ", ".join(missing))


def _canonical_target(env: Any, target: str) -> str | None:
    aliases: dict[str, str] = getattr(env, "imbalml_api_aliases", {})
    if target in aliases:
        return aliases[target]
    # An alias followed by an attribute: imbalml.groups.AttributeGroups.argmax
    head = target.rpartition(".")[0]
    while head:
        if head in aliases:
            return f"{aliases[head]}.{target[len(head) + 1 :]}"
        head = head.rpartition(".")[0]
    # A dotted tail of exactly one documented imbalml name: AttributeGroups.argmax
    if "." in target:
        objects = env.get_domain("py").objects
        matches = [n for n in objects if n.startswith("imbalml.") and n.endswith("." + target)]
        if len(matches) == 1:
            return matches[0]
    return None


def resolve_alias(app: Sphinx, env: Any, node: Any, contnode: Any) -> Any:
    """``missing-reference``: retry a Python reference at its canonical name."""
    if node.get("refdomain") != "py":
        return None
    target = node.get("reftarget", "")
    canonical = _canonical_target(env, target)
    if canonical is None or canonical == target:
        return None
    domain = env.get_domain("py")
    new = node.deepcopy()
    new["reftarget"] = canonical
    new["refspecific"] = False
    return domain.resolve_xref(
        env, node["refdoc"], app.builder, node["reftype"], canonical, new, contnode
    )


def _exists(target: str) -> bool:
    """Whether ``imbalml.a.b.c`` names an importable module or an attribute path of one."""
    parts = target.split(".")
    for i in range(len(parts), 0, -1):
        try:
            obj: Any = importlib.import_module(".".join(parts[:i]))
        except ImportError:
            continue
        for attr in parts[i:]:
            if not hasattr(obj, attr):
                return False
            obj = getattr(obj, attr)
        return True
    return False


def quiet_unmerged(app: Sphinx, domain: Any, node: Any) -> bool | None:
    """``warn-missing-reference``: in a partial tree, a link to an absent feature is no error.

    Only while a listed module is missing (a branch built before the others are merged), and only
    for ``imbalml`` names that do not exist in this tree. In a complete tree every reference must
    resolve.
    """
    if not getattr(app.env, "imbalml_api_missing", None):
        return None
    target = node.get("reftarget", "")
    if target.startswith("imbalml.") and not _exists(target):
        return True
    return None


def public_bases(app: Sphinx, name: str, obj: Any, options: Any, bases: list[type]) -> None:
    """``autodoc-process-bases``: show a private base class as its own public bases."""
    result: list[type] = []

    def add(base: type) -> None:
        if base.__name__.startswith("_"):
            for parent in base.__bases__:
                add(parent)
        elif base not in result and base is not object:
            result.append(base)

    for base in bases:
        add(base)
    bases[:] = result


def skip_namedtuple_fields(
    app: Sphinx, what: str, name: str, obj: Any, skip: bool, options: Any
) -> bool | None:
    """``autodoc-skip-member``: NamedTuple fields are described in the class's Attributes."""
    doc = getattr(obj, "__doc__", None) or ""
    if isinstance(obj, property) and doc.startswith("Alias for field number"):
        return True
    return None


def property_docstring(
    app: Sphinx, what: str, name: str, obj: Any, options: Any, lines: list[str]
) -> None:
    """``autodoc-process-docstring``, before napoleon: no inline ``type: text`` in attributes.

    Napoleon reads the first line ``A: B`` of a property or attribute docstring as type ``A`` and
    text ``B``; imbalml annotates types instead, so a colon in the first sentence is just prose.
    An empty type in front (``: A: B``) keeps the whole line as text.
    """
    if what in ("property", "attribute", "data") and lines and ":" in lines[0]:
        lines[0] = ": " + lines[0]


def setup(app: Sphinx) -> dict[str, Any]:
    app.add_config_value("imbalml_api_modules", [], "env", types=frozenset({list}))
    app.connect("builder-inited", generate, priority=100)
    app.connect("missing-reference", resolve_alias)
    app.connect("warn-missing-reference", quiet_unmerged)
    app.connect("autodoc-process-bases", public_bases)
    app.connect("autodoc-skip-member", skip_namedtuple_fields)
    app.connect("autodoc-process-docstring", property_docstring, priority=400)
    return {"version": "1", "parallel_read_safe": True, "parallel_write_safe": True}
