"""Give a constructor that passes ``**options`` on to its base the base's full public signature.

Subclasses that add one or two arguments would otherwise repeat every argument of the base; with
:func:`lists_options_of` they take ``**options`` and still show (to ``inspect`` and the API
docs) the one signature the base defines.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from typing import Any, TypeVar

__all__ = ["lists_options_of"]

_F = TypeVar("_F", bound=Callable[..., Any])


def lists_options_of(
    init: Callable[..., Any], *, first: bool = False, **extra: tuple[Any, Any]
) -> Callable[[_F], _F]:
    """Decorate an ``__init__(self, ..., **options)`` that passes ``options`` on to ``init``.

    Its signature and annotations become ``init``'s plus the keyword-only parameters ``extra``
    (``name=(default, annotation)``): after ``init``'s keyword-only parameters, or before them
    with ``first=True`` (always before a ``**kwargs``).

    Example:
        >>> class Base:
        ...     def __init__(self, *, a: int = 1) -> None: ...
        >>> class Child(Base):
        ...     @lists_options_of(Base.__init__, b=(2, "int"))
        ...     def __init__(self, *, b: int = 2, **options: Any) -> None: ...
        >>> list(inspect.signature(Child).parameters)
        ['a', 'b']
    """
    base = list(inspect.signature(init).parameters.values())
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
    signature = inspect.signature(init).replace(parameters=[*base[:at], *added, *base[at:]])

    def adopt(function: _F) -> _F:
        function.__signature__ = signature  # type: ignore[attr-defined]
        function.__annotations__ = {
            **init.__annotations__,
            **{p.name: p.annotation for p in added},
        }
        return function

    return adopt
