"""Small corpora and statistic-producing operators for the report and analyze tests.

The operators are plain, deterministic stand-ins for the column contract of CONTRIBUTING.md
(`lang`, `lang_score`, `token_count`, `pii_count_<ENTITY>`, metrics `tokens` and `pii:<ENTITY>`):
the report must work over whatever numeric columns exist, so these exercise it without
depending on which real operators a recipe uses. Recipes name them `tests.pipeline.report.test_fixtures:Class`.
"""

from __future__ import annotations

import json
import random
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
import yaml
from pydantic import Field

from operators.base import TEXT, Filter, Mapper, reasons_from_rules, with_column

WORDS = ("river stone light garden window paper music street winter summer table letter morning evening "
         "market school bridge forest harbor island").split()
FRENCH = "le la les une des et pour avec dans sur".split()

# Personal data planted in documents that the recipe removes; none of it may reach the HTML.
PLANTED = {
    "email": "jane.planted@example.org",
    "email_boundary": "joe.boundary@example.net",
    "phone": "+44 20 7946 0958",
    "phone_us": "(212) 555-0199",
    "card": "4111 1111 1111 1111",
    "ip": "203.0.113.77",
    "iban": "GB82 WEST 1234 5698 7654 32",
    "ssn": "078-05-1120",
    "id_email": "owner.of.id@example.com",
    "quarantine_email": "quarantined.person@example.org",
}


class TokenCounter(Mapper):
    """token_count = whitespace-separated words (int64); metric `tokens`."""

    name = "report_test_token_counter"

    def process(self, table: pa.Table) -> pa.Table:
        counts = pc.list_value_length(pc.utf8_split_whitespace(pc.fill_null(table.column(TEXT), "")))
        self.add_metric("tokens", int(pc.sum(counts).as_py() or 0))
        return with_column(table, "token_count", counts, pa.int64())


class PiiCounter(Mapper):
    """pii_count_EMAIL_ADDRESS = occurrences of '@'-addresses (int32); metric `pii:EMAIL_ADDRESS`."""

    name = "report_test_pii_counter"

    def process(self, table: pa.Table) -> pa.Table:
        found = pc.count_substring_regex(pc.fill_null(table.column(TEXT), ""), r"[\w.]+@[\w.]+\.\w+")
        self.add_metric("pii:EMAIL_ADDRESS", int(pc.sum(found).as_py() or 0))
        return with_column(table, "pii_count_EMAIL_ADDRESS", found, pa.int32())


class LangFilter(Filter):
    """lang = 'fr' when French function words dominate, else 'en'; lang_score = that share.
    Keeps documents whose lang_score >= min_score."""

    name = "report_test_lang_filter"
    min_score: float = Field(0.5, ge=0, le=1)

    def compute_stats(self, table: pa.Table) -> pa.Table:
        langs, scores = [], []
        for text in table.column(TEXT).to_pylist():
            words = (text or "").split()
            fr = sum(w in FRENCH for w in words)
            share_fr = fr / len(words) if words else 0.0
            lang = "fr" if share_fr > 0.5 else "en"
            langs.append(lang)
            scores.append(share_fr if lang == "fr" else 1.0 - share_fr if words else 0.0)
        table = with_column(table, "lang", pa.array(langs, pa.string()))
        return with_column(table, "lang_score", pa.array(scores, pa.float64()))

    def decide(self, table: pa.Table) -> pa.Array:
        low = pc.less(table.column("lang_score"), self.min_score)
        return reasons_from_rules(table.num_rows, [(low, "report_test_lang:low_score")])

    def stat_thresholds(self) -> dict[str, tuple[float | None, float | None]]:
        return {"lang_score": (self.min_score, None)}


def make_docs(n: int, seed: int) -> list[dict[str, Any]]:
    rng = random.Random(seed)
    docs = []
    for i in range(n):
        if i % 9 == 8:
            text = docs[rng.randrange(len(docs))]["text"]  # exact duplicate
        elif i % 13 == 5:
            text = " ".join(rng.choice(FRENCH + WORDS[:3]) for _ in range(rng.randint(20, 60)))
        else:
            text = " ".join(rng.choice(WORDS) for _ in range(rng.randint(3, 150))) + "."
        docs.append({"id": f"s{seed}-{i}", "text": text, "year": 2000 + i % 20})
    return docs


def planted_docs() -> list[dict[str, Any]]:
    """Documents carrying PII, each removed by the recipe of `recipe_dict`."""
    p = PLANTED
    short = [
        f"Write to {p['email']} today",
        f"call {p['phone']} or {p['phone_us']}",
        f"card {p['card']} ip {p['ip']}",
        f"iban {p['iban']} ssn {p['ssn']}",
    ]
    docs = [{"id": f"pii-{i}", "text": t, "year": 1999} for i, t in enumerate(short)]
    docs.append({"id": p["id_email"], "text": "too short to keep", "year": 1999})
    # a long document whose copy exact_dedup removes; its e-mail straddles the 600-character cut
    prefix = " ".join(["le"] * 296)  # 887 characters
    cut = prefix[:590]
    boundary = cut + " " + p["email_boundary"] + " " + " ".join(["la"] * 300)
    docs.append({"id": "pii-boundary", "text": boundary, "year": 1999})
    docs.append({"id": "pii-boundary-copy", "text": boundary, "year": 1999})  # removed by exact_dedup
    return docs


def write_corpus(folder: Path, shards: int = 3, per_shard: int = 150) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for s in range(shards):
        docs = make_docs(per_shard, seed=s)
        if s == 0:
            docs[0:0] = planted_docs()  # first in corpus order, so they are the examples shown
        pq.write_table(pa.Table.from_pylist(docs), folder / f"part-{s}.parquet", row_group_size=64)
    bad = folder / f"part-{shards}.jsonl"
    lines = [json.dumps(d) for d in make_docs(20, seed=99)]
    lines.insert(3, '{"id": "broken", "text": "mail ' + PLANTED["quarantine_email"] + '"')  # invalid JSON
    bad.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return folder


def recipe_dict(input_glob: str, out: str, workers: int = 2, batch_size: int = 50) -> dict[str, Any]:
    mod = "tests.pipeline.report.test_fixtures"
    return {
        "input": {"path": input_glob, "batch_size": batch_size},
        "output": {"path": out},
        "executor": {"type": "local", "workers": workers},
        "steps": [
            {"normalize_text": {}},
            {f"{mod}:TokenCounter": {}},
            {f"{mod}:PiiCounter": {}},
            {"text_length_filter": {"min_chars": 20}},
            {f"{mod}:LangFilter": {"min_score": 0.8}},
            {"words_filter": {"min_words": 20}},
            {"exact_dedup": {}},
        ],
    }


def write_recipe(path: Path, data: dict[str, Any]) -> Path:
    path.write_text(yaml.safe_dump(data, sort_keys=False), encoding="utf-8")
    return path


def funnel_rows(html: str) -> dict[str, dict[str, int]]:
    """data-* attributes of the funnel table rows, by step."""
    import re

    rows = {}
    for m in re.finditer(r"<tr ([^>]*data-step=[^>]*)>", html):
        attrs = dict(re.findall(r'data-([\w-]+)="([^"]*)"', m.group(1)))
        step = attrs.pop("step")
        rows[step] = {k: int(v) for k, v in attrs.items() if v.lstrip("-").isdigit()}
    return rows


def png_colours(path: Path) -> int:
    from PIL import Image

    with Image.open(path) as im:
        small = im.convert("RGB").resize((200, 200))
        return len(np.unique(np.asarray(small).reshape(-1, 3), axis=0))
