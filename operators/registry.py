"""Operator registry: `@register` on a class makes it usable by name in recipes.

Built-in operators live in the modules of the `operators` package. `get(name)` imports only the
module `BUILTINS` names for a built-in (a recipe's process, and each worker, then imports what
its steps use, not all ~40 operator modules: ~0.2 s less start-up per process); `load_builtins()`
imports them all, for listings and suggestions. Custom operators are named `module:Class`.
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

# The module of every built-in operator (tests/test_registry.py checks it against load_builtins()).
BUILTINS: dict[str, str] = {
    "alphanumeric_filter": "operators.quality.text_stats",
    "c4_line_cleaner": "operators.quality.c4",
    "c4_quality_filter": "operators.quality.c4",
    "char_repetition_filter": "operators.quality.text_stats",
    "decontaminate": "operators.dedup.decontaminate",
    "exact_dedup": "operators.dedup.exact",
    "fineweb_quality_filter": "operators.quality.fineweb",
    "fix_unicode": "operators.text.unicode_fix",
    "flagged_words_filter": "operators.quality.keywords",
    "gopher_quality_filter": "operators.quality.gopher_quality",
    "gopher_repetition_filter": "operators.quality.gopher_repetition",
    "language_filter": "operators.quality.language",
    "line_dedup": "operators.dedup.lines",
    "line_length_filter": "operators.quality.text_stats",
    "minhash_dedup": "operators.dedup.minhash",
    "mix": "operators.tokens.mix_step",
    "normalize_punctuation": "operators.text.punctuation",
    "normalize_text": "operators.text.normalize",
    "perplexity_filter": "operators.lm.perplexity_filter",
    "pii_scrubber": "operators.pii.scrubber",
    "quality_classifier_filter": "operators.classifier.quality_filter",
    "remove_copyright": "operators.text.copyright",
    "remove_emails": "operators.text.emails",
    "remove_links": "operators.text.links",
    "simhash_dedup": "operators.dedup.simhash",
    "special_characters_filter": "operators.quality.text_stats",
    "stopwords_filter": "operators.quality.keywords",
    "text_length_filter": "operators.filters.length",
    "token_count": "operators.tokenizer.count",
    "tokenize": "operators.tokens.tokenize_step",
    "train_lm": "operators.lm.train_step",
    "train_tokenizer": "operators.tokenizer.train",
    "word_repetition_filter": "operators.quality.text_stats",
    "words_filter": "operators.filters.length",
}


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
    if name in BUILTINS:
        importlib.import_module(BUILTINS[name])
    else:
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
