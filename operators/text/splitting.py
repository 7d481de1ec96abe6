"""The one shared splitter: lines, paragraphs, words, sentences and characters of a batch.

Every quality rule counts through these functions, so that "a word" or "a line" means the same
thing in every operator. They work on a whole Arrow string array at once and return `Pieces`:
the pieces of all documents flattened into one Arrow array plus per-document offsets, so that
rules compute per-piece values with `pyarrow.compute` / numpy and sum them per document without
a Python loop over documents.

Definitions (and where they deliberately differ from the papers' reference code):

- **line**: text between line breaks as Python's `str.splitlines` defines them (`\\n`, `\\r\\n`,
  `\\r`, `\\v`, `\\f`, `\\x1c-\\x1e`, `\\x85`, U+2028, U+2029), with surrounding whitespace
  stripped; blank lines are not lines. (datatrove's FineWeb filter splits on `\\n` only; it drops
  blank lines too (its first version counted them) but does not strip the lines it keeps.)
- **paragraph**: text between blank lines (a line break, optional whitespace, a line break),
  stripped; empty ones dropped. (Gopher: split on two or more newlines.)
- **word**: whitespace-separated token (whitespace = `str.isspace`, which is also Arrow's
  definition), with leading and trailing Unicode punctuation (general category P*) stripped;
  tokens that were only punctuation are not words. Han, Hiragana and Katakana characters are
  one word each, since those scripts do not separate words by spaces. Thai, Lao, Khmer and
  Myanmar runs stay one word each (documented limitation). (The Gopher and C4 reference code
  tokenizes English with NLTK, which splits off punctuation as its own tokens and splits
  contractions; counts differ by a few percent on English prose.)
- **sentence**: a line cut after a run of terminal punctuation (`. ! ? …` and their full-width
  forms, `‼ ⁇ ⁈ ⁉`), optionally followed by closing quotes or brackets, when whitespace follows;
  after full-width `。！？` no whitespace is needed. A line break always ends a sentence.
  (C4 uses the NLTK Punkt model per line; Punkt knows abbreviations such as "Mr.", this splitter
  does not, so it can count more sentences.)
- **characters**: Unicode code points (what `len(str)` counts).
"""

from __future__ import annotations

import functools
import unicodedata
from dataclasses import dataclass, field

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from operators.columns import int64_values

# Line breaks of str.splitlines other than "\n"; they are rewritten to "\n" before a fast literal
# split (a regex split is ~20x slower than the literal one).
_OTHER_LINE_BREAKS = r"\r\n?|[\x0b\x0c\x1c\x1d\x1e\x{85}\x{2028}\x{2029}]"
_CJK_CHAR = r"[\p{Han}\p{Hiragana}\p{Katakana}]"
# str.isspace() as an RE2 class (RE2's \s is ASCII only)
_WHITESPACE = r"[\t\n\x0b\x0c\r\x1c-\x1f \x{85}\x{a0}\x{1680}\x{2000}-\x{200a}\x{2028}\x{2029}\x{202f}\x{205f}\x{3000}]"
# A sentence ends after terminal punctuation (+ closing quotes/brackets) followed by whitespace,
# or after full-width 。！？ (+ closers) with no whitespace needed; one regex pass marks both.
_SENTENCE_END = (
    r"([.!?\x{2026}\x{203C}\x{2047}\x{2048}\x{2049}\x{FF0E}\x{FF01}\x{FF1F}]+"
    r"[\"'\x{201D}\x{2019}\x{00BB}\x{300D}\x{300F})\]]*)" + _WHITESPACE + "+"
    r"|([\x{3002}\x{FF01}\x{FF1F}]+[\x{300D}\x{300F}\x{FF09}]*)"
)


# ---- the pieces of a batch -----------------------------------------------------------------


@dataclass
class Pieces:
    """Pieces (lines, words...) of every document of a batch, flattened.

    `values[offsets[d]:offsets[d+1]]` are the pieces of document `d`. Per-piece numbers are
    aggregated per document with `sum`, `max` and `any`, which are O(pieces) numpy operations.
    """

    values: pa.Array
    offsets: np.ndarray  # int64, num_docs + 1 entries, offsets[0] == 0
    _parents: np.ndarray | None = field(default=None, repr=False)
    _lengths: np.ndarray | None = field(default=None, repr=False)

    @property
    def num_docs(self) -> int:
        return len(self.offsets) - 1

    def __len__(self) -> int:
        return len(self.values)

    def counts(self) -> np.ndarray:
        """Pieces per document (int64)."""
        return np.diff(self.offsets)

    def parents(self) -> np.ndarray:
        """Document index of each piece (int64)."""
        if self._parents is None:
            self._parents = np.repeat(np.arange(self.num_docs, dtype=np.int64), self.counts())
        return self._parents

    def lengths(self) -> np.ndarray:
        """Characters (code points) of each piece (int64)."""
        if self._lengths is None:
            self._lengths = int64_values(pc.utf8_length(self.values))
        return self._lengths

    def sum(self, per_piece: np.ndarray) -> np.ndarray:
        """Per-document sum of a per-piece number or boolean."""
        return segment_sum(np.asarray(per_piece), self.offsets)

    def max(self, per_piece: np.ndarray, empty: float = 0) -> np.ndarray:
        """Per-document maximum; `empty` for documents without pieces."""
        out = np.full(self.num_docs, empty, dtype=np.result_type(np.asarray(per_piece).dtype, type(empty)))
        if len(self):
            np.maximum.at(out, self.parents(), per_piece)
        return out

    def any(self, mask: np.ndarray) -> np.ndarray:
        return self.sum(np.asarray(mask, dtype=np.int64)) > 0

    def filter(self, mask: np.ndarray) -> Pieces:
        """Keep the pieces where `mask` is true, per document, in order."""
        mask = np.asarray(mask, dtype=bool)
        kept = segment_sum(mask.astype(np.int64), self.offsets)
        lengths = None if self._lengths is None else self._lengths[mask]
        return Pieces(self.values.filter(pa.array(mask)), _offsets_from_counts(kept), _lengths=lengths)

    def with_values(self, values: pa.Array) -> Pieces:
        """The same pieces with rewritten values (one per piece)."""
        if len(values) != len(self.values):
            raise ValueError("with_values needs one value per piece")
        return Pieces(values, self.offsets, self._parents)

    def to_arrow(self) -> pa.ListArray:
        """The pieces as a list array (one list per document)."""
        return pa.ListArray.from_arrays(pa.array(self.offsets.astype(np.int32)), self.values)

    def to_pylist(self) -> list[list[str]]:
        return self.to_arrow().to_pylist()

    def join(self, separator: str) -> pa.Array:
        """One string per document: its pieces joined by `separator`."""
        return pc.binary_join(self.to_arrow(), separator)


def segment_sum(values: np.ndarray, offsets: np.ndarray) -> np.ndarray:
    """Sum of `values[offsets[d]:offsets[d+1]]` for every d (exact for integers)."""
    dtype = np.float64 if np.issubdtype(values.dtype, np.floating) else np.int64
    csum = np.zeros(len(values) + 1, dtype=dtype)
    np.cumsum(values, out=csum[1:], dtype=dtype)
    return csum[offsets[1:]] - csum[offsets[:-1]]


def _offsets_from_counts(counts: np.ndarray) -> np.ndarray:
    offsets = np.zeros(len(counts) + 1, dtype=np.int64)
    np.cumsum(counts, out=offsets[1:])
    return offsets


def _from_list_array(lists: pa.ListArray | pa.LargeListArray) -> Pieces:
    offsets = int64_values(lists.offsets)
    start, end = int(offsets[0]), int(offsets[-1])
    return Pieces(lists.values.slice(start, end - start), offsets - start)


# ---- text ----------------------------------------------------------------------------------


def text_array(texts: pa.Array | pa.ChunkedArray | pa.Table, column: str = "text") -> pa.Array:
    """One contiguous string array of a batch's texts, nulls as empty strings."""
    if isinstance(texts, pa.Table):
        texts = texts.column(column)
    if isinstance(texts, pa.ChunkedArray):
        texts = texts.combine_chunks() if texts.num_chunks != 1 else texts.chunk(0)
    if pa.types.is_large_string(texts.type):
        texts = texts.cast(pa.string()) if _fits_int32(texts) else texts
    if texts.null_count:
        texts = pc.fill_null(texts, "")
    return texts


def _fits_int32(arr: pa.Array) -> bool:
    return int(pc.sum(pc.binary_length(arr)).as_py() or 0) < 2**31 - 1


def _nonempty(pieces: Pieces) -> Pieces:
    """Strip surrounding whitespace of each piece and drop the empty ones."""
    stripped = pieces.with_values(pc.utf8_trim_whitespace(pieces.values))
    lengths = int64_values(pc.binary_length(stripped.values))
    return stripped.filter(lengths > 0)


def split_lines(texts: pa.Array) -> Pieces:
    """Non-blank lines, stripped (see the module docstring)."""
    normalized = pc.replace_substring_regex(texts, _OTHER_LINE_BREAKS, "\n")
    return _nonempty(_from_list_array(pc.split_pattern(normalized, "\n")))


def split_paragraphs(texts: pa.Array) -> Pieces:
    """Paragraphs: runs of non-blank lines (blank = only whitespace), joined by "\\n" and
    stripped."""
    normalized = pc.replace_substring_regex(texts, _OTHER_LINE_BREAKS, "\n")
    raw = _from_list_array(pc.split_pattern(normalized, "\n"))
    blank = int64_values(pc.binary_length(pc.utf8_trim_whitespace(raw.values))) == 0
    # a paragraph starts at a non-blank line that opens its document or follows a blank line
    first_of_doc = np.zeros(len(raw), dtype=bool)
    first_of_doc[raw.offsets[:-1][raw.counts() > 0]] = True
    prev_blank = np.concatenate([[True], blank[:-1]])
    starts = ~blank & (first_of_doc | prev_blank)
    kept = np.flatnonzero(~blank)
    para_offsets = np.concatenate([np.flatnonzero(starts[kept]), [len(kept)]]).astype(np.int32)
    lines = raw.values.take(pa.array(kept))
    paragraphs = pc.binary_join(pa.ListArray.from_arrays(pa.array(para_offsets), lines), "\n")
    per_doc = segment_sum(starts.astype(np.int64), raw.offsets)
    return Pieces(pc.utf8_trim_whitespace(paragraphs), _offsets_from_counts(per_doc))


def split_tokens(texts: pa.Array) -> Pieces:
    """Whitespace-separated tokens, punctuation kept (what C4's `line.split()` counts)."""
    tokens = _from_list_array(utf8_split_whitespace(texts))
    # Arrow yields an empty token for leading/trailing whitespace and for empty text; str.split does not
    return tokens.filter(int64_values(pc.binary_length(tokens.values)) > 0)


def utf8_split_whitespace(texts: pa.Array) -> pa.ListArray:
    """`pc.utf8_split_whitespace`, safe from an Arrow 26 bug: when a value ends in multi-byte
    whitespace (U+2028, U+3000, NBSP...), the kernel decodes past the value's end, and for the
    last value of a buffer it reads whatever follows (uninitialized after some kernels, e.g.
    replace_with_mask), so the trailing whitespace is sometimes kept in the last token. A
    one-byte sentinel value after the batch gives it a valid byte to read."""
    padded = pa.concat_arrays([texts, pa.array(["."], texts.type)])
    return pc.utf8_split_whitespace(padded).slice(0, len(texts))


def split_words(texts: pa.Array, *, strip_punctuation: bool = True, split_cjk: bool = True) -> Pieces:
    """Words (see the module docstring): whitespace tokens without surrounding punctuation;
    one word per Han / Hiragana / Katakana character."""
    if split_cjk:
        texts = space_cjk(texts)
    if not strip_punctuation:
        return split_tokens(texts)
    tokens = _from_list_array(utf8_split_whitespace(texts))
    stripped = tokens.with_values(pc.utf8_trim(tokens.values, characters=punctuation_chars()))
    # one filter drops both Arrow's empty tokens and punctuation-only ones
    return stripped.filter(int64_values(pc.binary_length(stripped.values)) > 0)


def count_tokens(strings: pa.Array) -> np.ndarray:
    """Whitespace-separated tokens per string (== len(s.split())), without building them."""
    cps, offsets = codepoints(strings)
    if len(cps) == 0:
        return np.zeros(len(offsets) - 1, dtype=np.int64)
    space = whitespace_table()[cps]
    starts = ~space
    starts[1:] &= space[:-1]
    starts[offsets[:-1][np.diff(offsets) > 0]] = ~space[offsets[:-1][np.diff(offsets) > 0]]
    return segment_sum(starts, offsets)


def space_cjk(texts: pa.Array) -> pa.Array:
    """Put spaces around every Han / Hiragana / Katakana character (only in rows that have one)."""
    has_cjk = pc.match_substring_regex(texts, _CJK_CHAR)
    n = int(pc.sum(has_cjk).as_py() or 0)
    if n == 0:
        return texts
    spaced = pc.replace_substring_regex(texts.filter(has_cjk), f"({_CJK_CHAR})", r" \1 ")
    return pc.replace_with_mask(texts, has_cjk, spaced)


def split_sentences(texts: pa.Array) -> Pieces:
    """Sentences (see the module docstring); a line break always ends one."""
    lines = split_lines(texts)
    marked = pc.replace_substring_regex(lines.values, _SENTENCE_END, "\\1\\2\n")
    per_line = _from_list_array(pc.split_pattern(marked, "\n"))
    # sentences of line l belong to the document of line l
    doc_counts = segment_sum(per_line.counts(), lines.offsets)
    return _nonempty(Pieces(per_line.values, _offsets_from_counts(doc_counts)))


def count_sentences(texts: pa.Array) -> np.ndarray:
    return split_sentences(texts).counts()


# ---- characters ----------------------------------------------------------------------------


def codepoints(strings: pa.Array) -> tuple[np.ndarray, np.ndarray]:
    """All code points of a string array as one uint32 array, and per-string offsets into it."""
    strings = text_array(strings)
    char_offsets = _offsets_from_counts(int64_values(pc.utf8_length(strings)))
    if len(strings) == 0 or char_offsets[-1] == 0:
        return np.zeros(0, dtype=np.uint32), char_offsets
    _validity, offsets_buf, data = strings.buffers()
    width = np.int64 if pa.types.is_large_string(strings.type) else np.int32
    offsets = np.frombuffer(offsets_buf, dtype=width)[strings.offset: strings.offset + len(strings) + 1]
    text = memoryview(data)[int(offsets[0]):int(offsets[-1])].tobytes().decode("utf-8")
    return np.frombuffer(text.encode("utf-32-le"), dtype=np.uint32), char_offsets


# General categories, coded as small integers for lookup tables over all code points.
CATEGORIES = ("Lu", "Ll", "Lt", "Lm", "Lo", "Mn", "Mc", "Me", "Nd", "Nl", "No", "Pc", "Pd", "Ps", "Pe", "Pi",
              "Pf", "Po", "Sm", "Sc", "Sk", "So", "Zs", "Zl", "Zp", "Cc", "Cf", "Cs", "Co", "Cn")


# Planes 4-13 hold no character up to Unicode 17 (Cn); planes 15-16 are private use (Co) but for
# their last two code points (noncharacters, Cn), which Unicode's stability policy never changes.
_UNASSIGNED_PLANES_UNTIL = 17


@functools.cache
def category_table() -> np.ndarray:
    """uint8 index into CATEGORIES for every code point (built once per process: ~0.1 s, as
    it asks `unicodedata` only about the planes that hold characters)."""
    index = {c: i for i, c in enumerate(CATEGORIES)}
    cat = unicodedata.category
    if int(unicodedata.unidata_version.split(".")[0]) > _UNASSIGNED_PLANES_UNTIL:
        asked = [(0, 0x110000)]
        table = np.zeros(0x110000, dtype=np.uint8)
    else:
        asked = [(0, 0x40000), (0xE0000, 0xF0000)]
        table = np.full(0x110000, index["Cn"], dtype=np.uint8)
        table[0xF0000:] = index["Co"]
        table[[0xFFFFE, 0xFFFFF, 0x10FFFE, 0x10FFFF]] = index["Cn"]
    for lo, hi in asked:
        table[lo:hi] = np.fromiter(map(index.__getitem__, map(cat, map(chr, range(lo, hi)))), np.uint8, hi - lo)
    return table


@functools.cache
def char_class(prefixes: str) -> np.ndarray:
    """Boolean table over code points: general category starts with one of `prefixes`
    (comma-separated, e.g. "L,M,N" for letters, marks and numbers)."""
    wanted = tuple(p.strip() for p in prefixes.split(","))
    codes = np.array([c.startswith(wanted) for c in CATEGORIES])
    return codes[category_table()]


@functools.cache
def whitespace_table() -> np.ndarray:
    table = np.zeros(0x110000, dtype=bool)
    table[[c for c in range(0x3001) if chr(c).isspace()]] = True
    return table


@functools.cache
def punctuation_chars() -> str:
    """Every code point of general category P* (what words are stripped of)."""
    return "".join(chr(c) for c in np.flatnonzero(char_class("P")))
