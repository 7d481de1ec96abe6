"""Word lists shipped with the quality filters (one entry per line, UTF-8).

`flagged_<lang>.txt`: flagged (obscene / offensive) words and phrases, from the MIT-licensed
PyPI package safetext 0.3.3 (which extends the LDNOOBW lists that C4 used).
`stopwords_<lang>.txt`: stop words from spaCy 3.8 (MIT), `spacy.lang.<lang>.stop_words`.
`_build.py` regenerates both; SOURCES.md records versions and changes.
"""

from __future__ import annotations

from importlib.resources import files


def available(kind: str) -> list[str]:
    """Languages that have a shipped list of `kind` ("flagged" or "stopwords")."""
    prefix = f"{kind}_"
    return sorted(p.name[len(prefix):-4] for p in files(__name__).iterdir()
                  if p.name.startswith(prefix) and p.name.endswith(".txt"))


def read(kind: str, lang: str) -> list[str] | None:
    """The shipped list of `kind` for `lang`, or None if there is none."""
    path = files(__name__) / f"{kind}_{lang}.txt"
    if not path.is_file():
        return None
    return [w for w in path.read_text(encoding="utf-8").splitlines() if w.strip()]
