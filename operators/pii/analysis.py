"""PII detection: presidio's recognizers behind the prefilter (see prefilter.py), plus optional
NER through presidio's SpacyRecognizer. Built once per process by the operator's setup()."""

from __future__ import annotations

import bisect
import traceback
from dataclasses import dataclass
from typing import Any

from operators.pii import prefilter
from operators.pii.recognizers import (
    PHONE_FORMAT_DIGITS,
    PhoneRegionPlan,
    ner_nlp_engine,
    pattern_recognizers,
    phone_recognizer,
    spacy_recognizer,
    token_nlp_engine,
)


@dataclass(frozen=True, order=True)
class Finding:
    start: int
    end: int
    entity: str
    score: float


class PIIAnalysisError(RuntimeError):
    """A presidio recognizer failed. The original message is withheld: it may quote the text."""


def withheld(what: str, exc: Exception) -> PIIAnalysisError:
    """The error to raise instead of `exc`: its type and where it happened, not its message."""
    frames = traceback.extract_tb(exc.__traceback__)
    where = f" at {frames[-1].filename}:{frames[-1].lineno}" if frames else ""
    return PIIAnalysisError(f"{what} failed ({type(exc).__name__}{where}); "
                            "the message is withheld because it may quote the document")


@dataclass(frozen=True)
class WindowSettings:
    """How much text around a trigger presidio sees (characters). `margin` exceeds every
    built-in pattern's longest whitespace-free stretch; `max_chars`/`overlap` bound huge windows."""

    margin: int = 64
    phone_margin: int = 24
    reach: int = 256
    max_chars: int = 8192
    overlap: int = 512


class PIIAnalyzer:
    """Finds PII in one text at a time (patterns) or a list of texts (NER)."""

    def __init__(self, *, entities: list[str], custom: list[dict[str, Any]], ner_entities: list[str],
                 ner_model: str, phone_regions: list[str], phone_leniency: int, score_threshold: float,
                 context_words: bool, ner_max_chars: int = 100_000, windows: WindowSettings | None = None,
                 phone_budget_digits: int = 20_000, phone_fallback_min_digits: int = 7,
                 phone_international: bool = True, phone_by_format: bool = True):
        from presidio_analyzer import EntityRecognizer, RecognizerResult
        from presidio_analyzer.context_aware_enhancers import LemmaContextAwareEnhancer

        self._remove_duplicates = EntityRecognizer.remove_duplicates
        self._id_key = RecognizerResult.RECOGNIZER_IDENTIFIER_KEY
        self._phone_extra = {"international": phone_international, "by_format": phone_by_format}
        self.recognizers = pattern_recognizers(entities, phone_regions, phone_leniency, custom, **self._phone_extra)
        self.text_triggers, self.cluster_triggers = prefilter.compile_triggers(
            entities, {c["entity"]: c["regex"] for c in custom})
        self._digit_entities = bool(self.cluster_triggers) or "PHONE_NUMBER" in self.recognizers
        self.nlp = token_nlp_engine() if context_words else None
        self.enhancer = LemmaContextAwareEnhancer() if context_words else None
        self.threshold = score_threshold
        self.windows = windows or WindowSettings()
        self.ner_entities = list(ner_entities)
        self.ner = ner_nlp_engine(ner_model) if ner_entities else None
        self.spacy = spacy_recognizer(ner_entities) if ner_entities else None
        self.ner_max_chars = ner_max_chars
        self._phone_verdicts: dict[str, bool] = {}
        self.phone_budget_digits = phone_budget_digits
        self.phone_fallback_min_digits = phone_fallback_min_digits
        self.phone_fallback_documents = 0
        self._phone_plan = PhoneRegionPlan(phone_regions, phone_leniency)
        self._phone_leniency = phone_leniency
        self._phone_by_regions: dict[tuple[str, ...], Any] = {}
        self._by_id = {rec.id: rec for rec in self.recognizers.values()}
        from spacy.lang.en.stop_words import STOP_WORDS

        self._stop_words = frozenset(STOP_WORDS)

    # ---- one recognizer on one piece of text ------------------------------------------------
    def _recognize(self, entity: str, text: str, rec: Any = None) -> list[Any]:
        rec = rec or self.recognizers[entity]
        try:
            return rec.analyze(text=text, entities=[entity], nlp_artifacts=None)
        except Exception as exc:
            raise withheld(f"presidio {rec.name}", exc) from None

    def _with_context(self, text: str, results: list[Any], max_piece: int = 1024) -> list[Any]:
        """presidio's context boost, looked up in short pieces of `text` that start far enough
        back for the enhancer's five keywords (so their tokens are the whole text's tokens).
        Results whose pieces overlap share one piece, up to `max_piece` characters."""
        out = []
        groups: list[tuple[int, int, list[Any]]] = []
        for r in sorted(results, key=lambda r: r.start):
            if r.score >= 1.0:  # validated (e-mail, card, IBAN): a context boost cannot change it
                out.append(r)
                continue
            s, words = prefilter.context_start(text, r.start, self._stop_words)
            e = prefilter.context_end(text, r.end, self._stop_words)
            if not words and not prefilter.has_letters(text, s, e):
                out.append(r)  # no word around it at all (digit dumps): no context word can apply
                continue
            if groups and s <= groups[-1][1] and e - groups[-1][0] <= max_piece:
                g = groups[-1]
                groups[-1] = (g[0], max(g[1], e), g[2] + [r])
            else:
                groups.append((s, e, [r]))
        for s, e, group in groups:
            piece = text[s:e]
            try:
                artifacts = self.nlp.process_text(piece, "en")
                for r in group:
                    rec = self._by_id[r.recognition_metadata[self._id_key]]
                    r.start -= s
                    r.end -= s
                    boosted = rec.enhance_using_context(piece, [r], [], artifacts, None)
                    boosted = self.enhancer.enhance_using_context(piece, boosted, artifacts, [rec], None)
                    for b in boosted:
                        b.start += s
                        b.end += s
                        out.append(b)
            except Exception as exc:
                raise withheld("presidio context enhancement", exc) from None
        return out

    def _finish(self, results: list[Any]) -> list[Any]:
        """presidio AnalyzerEngine's last steps: the score threshold, then per-type dedup."""
        return self._remove_duplicates([r for r in results if r.score >= self.threshold])

    def _phone(self, digits: int, has_plus: bool) -> Any | None:
        """The phone recognizer restricted to the regions that can match `digits` digits."""
        regions = self._phone_plan.regions_for(digits, has_plus)
        formatted = self._phone_extra["by_format"] and digits >= PHONE_FORMAT_DIGITS[0]
        if not regions and not formatted and not self._phone_extra["international"]:
            return None
        rec = self._phone_by_regions.get(regions)
        if rec is None:
            rec = self._phone_by_regions[regions] = phone_recognizer(regions, self._phone_leniency, **self._phone_extra)
            self._by_id[rec.id] = rec
        return rec

    def _phone_cluster_may_match(self, cluster: str, digits: int) -> bool:
        verdict = self._phone_verdicts.get(cluster)
        if verdict is None:
            rec = self._phone(digits, "+" in cluster or "\uff0b" in cluster)
            try:
                verdict = rec is not None and bool(rec.analyze(text=cluster, entities=["PHONE_NUMBER"], nlp_artifacts=None))
            except Exception as exc:
                raise withheld(f"presidio {rec.name}", exc) from None
            if len(self._phone_verdicts) >= 200_000:
                self._phone_verdicts.clear()
            self._phone_verdicts[cluster] = verdict
        return verdict

    # ---- the fast path ----------------------------------------------------------------------
    def candidate_spans(self, text: str, clusters: list[tuple[int, int]] | None = None,
                        digits_of: list[int] | None = None) -> dict[str, list[tuple[int, int]]]:
        """Trigger matches per entity: where that entity's recognizer could find something.
        Every digit cluster and its digit count are appended to `clusters`/`digits_of` when given."""
        spans: dict[str, list[tuple[int, int]]] = {}
        for entity, trigger in self.text_triggers.items():
            found = [m.span() for m in trigger.finditer(text)]
            if found:
                spans[entity] = found
        if not self._digit_entities:
            return spans
        phone = "PHONE_NUMBER" in self.recognizers
        for m in prefilter.DIGIT_CLUSTER.finditer(text):
            a, b = m.span()
            cluster = m.group()
            digits = prefilter.digit_count(cluster)
            if clusters is not None:
                clusters.append((a, b))
            if digits_of is not None:
                digits_of.append(digits)
            if phone and digits >= self._phone_plan.min_digits:
                if digits >= prefilter.PHONE_DIRECT_DIGITS:
                    spans.setdefault("PHONE_NUMBER", []).append((a, b))
                else:
                    lead = prefilter.phone_lead_start(text, a)
                    if self._phone_cluster_may_match(text[lead:b], digits):
                        spans.setdefault("PHONE_NUMBER", []).append((lead, b))
            for entity, (min_digits, trigger) in self.cluster_triggers.items():
                if digits >= min_digits:
                    for t in trigger.finditer(cluster):
                        spans.setdefault(entity, []).append((a + t.start(), a + t.end()))
        return spans

    def analyze(self, text: str) -> list[Finding]:
        """Pattern findings (all configured pattern and custom entities) in one text."""
        w = self.windows
        clusters: list[tuple[int, int]] = []
        digits: list[int] = []
        spans = self.candidate_spans(text, clusters, digits)
        starts = [c[0] for c in clusters]
        out: list[Any] = []
        fallback: list[Finding] = []
        for entity, found in spans.items():
            if entity in ("PHONE_NUMBER", "CREDIT_CARD"):  # a cut digit cluster is another candidate
                margin = w.phone_margin if entity == "PHONE_NUMBER" else w.margin
                wins = [prefilter.uncut(text, prefilter.window(text, a, b, margin, w.reach), clusters, starts, w.reach)
                        for a, b in found]
            else:
                wins = [prefilter.window(text, a, b, w.margin, w.reach) for a, b in found]
            wins = prefilter.merge(wins)
            if entity == "PHONE_NUMBER" and self._phone_over_budget(wins, starts, digits):
                fallback = self._phone_fallback(clusters, digits)
                continue
            results = []
            for s, e in wins:
                for c in prefilter.chunks(text, s, e, w.max_chars, w.overlap):
                    piece = text[c.start:c.end]
                    rec = None
                    if entity == "PHONE_NUMBER":
                        # clusters starting in the chunk, and the one a chunk of a huge window may cut
                        lo, hi = max(0, bisect.bisect_right(starts, c.start) - 1), bisect.bisect_left(starts, c.end)
                        rec = self._phone(max(digits[lo:hi], default=0), "+" in piece or "\uff0b" in piece)
                        if rec is None:
                            continue
                    for r in self._recognize(entity, piece, rec):
                        r.start += c.start
                        r.end += c.start
                        if c.core_start <= r.start < c.core_end:
                            results.append(r)
            if results and self.enhancer is not None:
                results = self._with_context(text, results)
            out += self._finish(results)
        return sorted([Finding(r.start, r.end, r.entity_type, r.score) for r in out] + fallback)

    def _phone_over_budget(self, wins: list[tuple[int, int]], starts: list[int], digits: list[int]) -> bool:
        total = 0
        for s, e in wins:
            total += sum(digits[bisect.bisect_left(starts, s):bisect.bisect_left(starts, e)])
            if total > self.phone_budget_digits:
                return True
        return False

    def _phone_fallback(self, clusters: list[tuple[int, int]], digits: list[int]) -> list[Finding]:
        """A document with more phone-candidate digits than the budget (tables, digit dumps):
        phonenumbers would take minutes, so every digit cluster long enough to be a phone number
        counts as one. Over-redacts, never leaks, stays linear."""
        self.phone_fallback_documents += 1
        score = max(self.threshold, 0.4)  # presidio's phone score, kept whatever the threshold
        return [Finding(a, b, "PHONE_NUMBER", score) for (a, b), d in zip(clusters, digits)
                if d >= self.phone_fallback_min_digits]

    def analyze_whole(self, text: str) -> list[Finding]:
        """Every recognizer on the whole text, no prefilter: what the fast path must equal."""
        out = []
        artifacts = self.nlp.process_text(text, "en") if self.enhancer is not None else None
        for entity, rec in self.recognizers.items():
            results = self._recognize(entity, text)
            if results and artifacts is not None:
                results = rec.enhance_using_context(text, results, [], artifacts, None)
                results = self.enhancer.enhance_using_context(text, results, artifacts, [rec], None)
            out += self._finish(results)
        return sorted(Finding(r.start, r.end, r.entity_type, r.score) for r in out)

    # ---- NER --------------------------------------------------------------------------------
    def _ner_pieces(self, text: str) -> list[tuple[int, str]]:
        """Split a long text on line breaks (else whitespace) into pieces spaCy can take."""
        n, size = len(text), self.ner_max_chars
        if n <= size:
            return [(0, text)]
        pieces, s = [], 0
        while s < n:
            e = min(n, s + size)
            if e < n:
                cut = text.rfind("\n", s + size // 2, e)
                if cut < 0:
                    cut = max((text.rfind(ch, s + size // 2, e) for ch in (" ", "\t")), default=-1)
                if cut > s:
                    e = cut + 1
            pieces.append((s, text[s:e]))
            s = e
        return pieces

    def analyze_ner(self, texts: list[str]) -> list[list[Finding]]:
        """NER findings per text, spaCy run as one batched pipe over all pieces."""
        if self.ner is None:
            return [[] for _ in texts]
        owners: list[tuple[int, int]] = []
        pieces: list[str] = []
        for i, text in enumerate(texts):
            for offset, piece in self._ner_pieces(text):
                owners.append((i, offset))
                pieces.append(piece)
        out: list[list[Finding]] = [[] for _ in texts]
        try:
            processed = self.ner.process_batch(pieces, "en", batch_size=64)
            for (i, offset), (piece, artifacts) in zip(owners, processed):
                for r in self.spacy.analyze(piece, self.ner_entities, artifacts):
                    if r.score >= self.threshold:
                        out[i].append(Finding(r.start + offset, r.end + offset, r.entity_type, r.score))
        except Exception as exc:
            raise withheld("spaCy NER", exc) from None
        for findings in out:
            findings.sort()
        return out
