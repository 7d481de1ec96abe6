"""Operator registry: `@register` on a class makes it usable by name in recipes.

Built-in operators live in the modules of the `operators` package; `load_builtins()` imports
them all (operators import heavy libraries inside `setup()`, so this stays cheap). Custom
operators are named `module:Class` in a recipe.
"""

from __future__ import annotations

import difflib
import importlib
import inspect
import pkgutil
from typing import Any

from operators.base import Operator

_REGISTRY: dict[str, type[Operator]] = {}
_loaded = False


def register(cls: type[Operator]) -> type[Operator]:
    if not cls.name:
        raise TypeError(f"{cls.__qualname__} must set a `name`")
    existing = _REGISTRY.get(cls.name)
    if existing is not None and existing is not cls and existing.__qualname__ != cls.__qualname__:
        raise TypeError(f"operator name {cls.name!r} is taken by {existing.__module__}.{existing.__qualname__}")
    _REGISTRY[cls.name] = cls
    return cls


def load_builtins() -> None:
    global _loaded
    if _loaded:
        return
    import operators

    for info in pkgutil.walk_packages(operators.__path__, prefix="operators."):
        leaf = info.name.rsplit(".", 1)[-1]
        if leaf.startswith("_") or leaf.startswith("test"):
            continue
        importlib.import_module(info.name)
    _loaded = True


def names() -> list[str]:
    load_builtins()
    return sorted(_REGISTRY)


class UnknownOperator(KeyError):
    def __init__(self, name: str, suggestions: list[str]):
        self.name = name
        self.suggestions = suggestions
        hint = f"; did you mean {', '.join(suggestions)}?" if suggestions else ""
        super().__init__(f"unknown operator {name!r}{hint}")

    def __str__(self) -> str:
        return self.args[0]


def get(name: str) -> type[Operator]:
    """The operator class for a registered name or a `module:Class` path."""
    if ":" in name:
        module_name, _, attr = name.partition(":")
        try:
            cls = getattr(importlib.import_module(module_name), attr)
        except (ImportError, AttributeError) as exc:
            raise UnknownOperator(name, []) from exc
        if not (isinstance(cls, type) and issubclass(cls, Operator)):
            raise UnknownOperator(name, [])
        return cls
    load_builtins()
    if name not in _REGISTRY:
        raise UnknownOperator(name, difflib.get_close_matches(name, list(_REGISTRY), n=3, cutoff=0.5))
    return _REGISTRY[name]


def build(name: str, params: dict[str, Any] | None = None) -> Operator:
    return get(name)(**(params or {}))


def describe(cls: type[Operator]) -> dict[str, Any]:
    """Name, kind, one-line doc, full doc, parameters (type, default, description) and every
    removal reason the operator can give (`reasons`; None when it does not declare them)."""
    doc = inspect.cleandoc(cls.__doc__ or "")
    params = []
    for pname, finfo in cls.model_fields.items():
        params.append(
            {
                "name": pname,
                "type": _type_name(finfo.annotation),
                "default": None if finfo.is_required() else finfo.get_default(call_default_factory=True),
                "required": finfo.is_required(),
                "description": finfo.description or "",
            }
        )
    return {
        "name": cls.name,
        "kind": cls.kind,
        "summary": doc.splitlines()[0] if doc else "",
        "doc": doc,
        "params": params,
        "reasons": cls.declared_reasons(),
    }


def _type_name(annotation: Any) -> str:
    text = getattr(annotation, "__name__", None) or str(annotation)
    return text.replace("typing.", "")
