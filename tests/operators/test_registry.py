"""The operator registry: built-ins are found by name without importing every operator module."""

from __future__ import annotations

import subprocess
import sys

from operators import registry


def test_builtins_map_names_every_registered_operator_and_its_module():
    registry.load_builtins()
    found = {name: cls.__module__ for name, cls in registry._REGISTRY.items() if cls.__module__.startswith("operators.")}
    assert registry.BUILTINS == found


def test_get_imports_only_the_module_of_the_operator():
    code = ("import sys; from operators import registry; cls = registry.get('minhash_dedup'); "
            "print(cls.__module__, sorted(m for m in sys.modules if m.startswith(('operators.lm', 'operators.pii'))))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.split(" ", 1)
    assert out[0] == "operators.dedup.minhash" and out[1].strip() == "[]"


def test_unknown_name_still_gets_suggestions():
    try:
        registry.get("minhash_dedupe")
    except registry.UnknownOperator as exc:
        assert "minhash_dedup" in str(exc)
    else:
        raise AssertionError("expected UnknownOperator")
