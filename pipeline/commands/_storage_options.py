"""`--storage-option KEY=VALUE` for the commands that reach an output folder on a store without a
recipe (`pipeline report`, `pipeline tokenize`) and for `pipeline run` and `validate`: the same
fsspec settings as a recipe's top-level `storage_options`. Values may be credentials: no message
repeats them."""

from __future__ import annotations

import argparse
from typing import Any

HELP = ("an fsspec option for s3:// (or other URL) paths, as a recipe's top-level storage_options; repeat it; "
        "a dotted key nests (client_kwargs.endpoint_url=http://host:9000) and the value is YAML "
        "(quote it to keep a string: secret='0123')")


class StorageOptionError(ValueError):
    """A malformed --storage-option; names the key, never the value."""


def add_argument(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--storage-option", action="append", default=[], metavar="KEY=VALUE",
                        dest="storage_options", help=HELP)


def parse(items: list[str]) -> dict[str, Any]:
    """['key=AK', 'client_kwargs.endpoint_url=http://h:9000'] -> {'key': 'AK', 'client_kwargs': {...}}."""
    import yaml

    from pipeline.recipe_yaml import load_yaml

    options: dict[str, Any] = {}
    for item in items:
        key, sep, raw = item.partition("=")
        names = [n.strip() for n in key.split(".")]
        if not sep:  # what was given may be the value alone: not repeated
            raise StorageOptionError("a --storage-option has no '=' (shown no further: it may hold a secret): "
                                     "expected KEY=VALUE, e.g. client_kwargs.endpoint_url=http://host:9000")
        if not all(names):
            raise StorageOptionError(f"--storage-option {key.strip()}=...: empty key, expected KEY=VALUE, "
                                     f"e.g. client_kwargs.endpoint_url=http://host:9000")
        try:
            value = load_yaml(raw) if raw.strip() else None
        except yaml.YAMLError:
            raise StorageOptionError(f"--storage-option {key.strip()}: the value is not valid YAML "
                                     f"(quote it to pass it as a string)") from None
        node = options
        for i, name in enumerate(names[:-1]):
            node = node.setdefault(name, {})
            if not isinstance(node, dict):
                raise StorageOptionError(f"--storage-option {key.strip()}: {'.'.join(names[:i + 1])} is already "
                                         f"set to a value, not a mapping")
        node[names[-1]] = value
    return options


def as_overrides(items: list[str]) -> list[str]:
    """The same options as recipe overrides (`--set storage_options.KEY=VALUE`), checked first
    so that a malformed one is reported without its value."""
    parse(items)
    return [f"storage_options.{item.strip()}" for item in items]
