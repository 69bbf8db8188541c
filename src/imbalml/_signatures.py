"""Give a constructor that passes ``**options`` on to its base the base's full public signature.

Subclasses that add one or two arguments would otherwise repeat every argument of the base; with
:func:`lists_options_of` they take ``**options`` and still show (to ``inspect`` and the API
docs) the one signature the base defines.
"""

from __future__ import annotations

import inspect
import typing
from collections.abc import Callable
from typing import Any, TypeVar

__all__ = ["lists_options_of"]

_F = TypeVar("_F", bound=Callable[..., Any])


def lists_options_of(
    init: Callable[..., None], *, first: bool = False, **extra: tuple[Any, Any]
) -> Callable[[Callable[..., None]], Callable[..., None]]:
    """Decorate an ``__init__(self, *args, <extra names>, **options)`` that passes the rest to ``init``.

    The decorated function gets each ``extra`` argument (``name=(default, annotation)``) filled in
    with its default, so the defaults are written here once. The result's signature and
    annotations (``inspect``, the API docs) are ``init``'s plus the ``extra`` keyword-only
    parameters: after ``init``'s keyword-only parameters, or before them with ``first=True``
    (always before a ``**kwargs``).

    Example:
        >>> class Base:
        ...     def __init__(self, *, a: int = 1) -> None:
        ...         self.a = a
        >>> class Child(Base):
        ...     @lists_options_of(Base.__init__, b=(2, int))
        ...     def __init__(self, *args: Any, b: int, **options: Any) -> None:
        ...         super().__init__(*args, **options)
        ...         self.b = b
        >>> list(inspect.signature(Child).parameters)
        ['a', 'b']
        >>> child = Child(a=5)
        >>> child.a, child.b
        (5, 2)
    """
    # Resolved here, in the namespace of `init`'s module: the wrapper below lives in this one.
    hints = typing.get_type_hints(init)
    base = [
        p.replace(annotation=hints.get(p.name, p.annotation))
        for p in inspect.signature(init).parameters.values()
    ]
    added = [
        inspect.Parameter(name, inspect.Parameter.KEYWORD_ONLY, default=d, annotation=a)
        for name, (d, a) in extra.items()
    ]
    kinds = [p.kind for p in base]
    if first and inspect.Parameter.KEYWORD_ONLY in kinds:
        at = kinds.index(inspect.Parameter.KEYWORD_ONLY)
    elif inspect.Parameter.VAR_KEYWORD in kinds:
        at = kinds.index(inspect.Parameter.VAR_KEYWORD)
    else:
        at = len(base)
    signature = inspect.Signature(
        [*base[:at], *added, *base[at:]], return_annotation=hints.get("return")
    )

    def adopt(function: Callable[..., None]) -> Callable[..., None]:
        # No default in this definition: the signature above is the one that documents them.
        def wrapper(self: Any, *args: Any, **options: Any) -> None:
            chosen = {name: options.pop(name, d) for name, (d, _) in extra.items()}
            function(self, *args, **chosen, **options)

        wrapper.__signature__ = signature  # type: ignore[attr-defined]
        wrapper.__annotations__ = {
            **hints,
            **{p.name: p.annotation for p in added},
        }
        for name in ("__module__", "__name__", "__qualname__", "__doc__"):
            setattr(wrapper, name, getattr(function, name))
        return wrapper

    return adopt
