"""Peers bench: this project against datatrove 0.10.1 and Data-Juicer 1.6.1 on the same shards,
interleaved in one invocation, 2 workers each, whole processes timed (start-up included).

  python bench/peers/make_envs.py          # once: the peers' virtualenvs and the offline LID model
  python bench/peers/bench_peers.py [--rounds 2] [--only minhash] [--minhash-parts 16] [--no-write]

Pairs (shared/PEERS.md): the FineWeb-like chain vs datatrove's filters, the Data-Juicer chain vs
Data-Juicer's ops (corpus_en parts 0-1), MinHash dedup vs both (parts 0-3). Each of our runs comes
right before the peer run it is compared with, so both see the same machine load; the ratio is the
peer's wall seconds over ours (median over rounds). The peers run as installed packages from their
own environments, driven by run_datatrove.py and run_data_juicer.py. The table is printed and
written between the peers markers of bench/RESULTS.md.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent.parent
sys.path.insert(0, str(ROOT / "bench"))

from measure import measure_command  # noqa: E402

ENVS = Path(os.environ.get("PEERS_ENVS", HERE / "_envs"))
CORPUS = Path(os.environ.get("PIPELINE_SHARED_DATA", ROOT.parent / "shared" / "data")) / "corpus_en"
RESULTS = ROOT / "bench" / "RESULTS.md"
BEGIN, END = "<!-- peers bench: begin -->", "<!-- peers bench: end -->"
PII = {"pii_scrubber": {"entities": ["EMAIL_ADDRESS", "IP_ADDRESS"]}}
LANG = {"language_filter": {"languages": ["en"], "min_score": 0.65}}


@dataclass
class Pair:
    key: str
    label: str
    peer: str  # environment name: datatrove | data_juicer
    what: str  # chain | minhash
    parts: int
    steps: list[dict[str, Any]]
    runs: list[dict[str, Any]] = field(default_factory=list)


def pairs(minhash_parts: int) -> list[Pair]:
    minhash = [{"minhash_dedup": {"threshold": 0.7}}]
    return [
        Pair("fineweb", "FineWeb-like chain", "datatrove", "chain", 2,
             [LANG, {"gopher_repetition_filter": {}}, {"gopher_quality_filter": {}},
              {"c4_line_cleaner": {"require_terminal_punctuation": False}}, {"c4_quality_filter": {}},
              {"fineweb_quality_filter": {}}, PII]),
        Pair("dj", "Data-Juicer chain", "data_juicer", "chain", 2,
             [LANG, {"word_repetition_filter": {}}, {"special_characters_filter": {}},
              {"words_filter": {"min_words": 10}}, PII]),
        Pair("minhash-datatrove", "MinHash dedup", "datatrove", "minhash", minhash_parts, minhash),
        Pair("minhash-data_juicer", "MinHash dedup", "data_juicer", "minhash", minhash_parts, minhash),
    ]


def input_folder(work: Path, corpus: Path, parts: int) -> Path:
    """A folder of symlinks to the corpus's first `parts` Parquet files (the peers read folders)."""
    folder = work / f"corpus-{parts}"
    shutil.rmtree(folder, ignore_errors=True)
    if not folder.exists():
        files = sorted(corpus.glob("*.parquet"))[:parts]
        if len(files) < parts:
            raise SystemExit(f"need {parts} Parquet files in {corpus}")
        folder.mkdir(parents=True)
        for f in files:
            (folder / f.name).symlink_to(f)
    return folder


OURS_PYTHON = [sys.executable]  # --ours-python: e.g. a venv of the README's install, without the test extras


def run_ours(pair: Pair, inputs: Path, work: Path) -> dict[str, Any]:
    out = work / "ours-out"
    recipe = {"input": {"path": [str(p) for p in sorted(inputs.glob("*.parquet"))], "id_column": "id"},
              "output": {"path": str(out), "report": False}, "executor": {"type": "local", "workers": 2},
              "steps": pair.steps}
    path = work / "ours.yaml"
    path.write_text(yaml.safe_dump(recipe))
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    m = measure_command([OURS_PYTHON[0], "-m", "pipeline.cli", "run", str(path), "--quiet"], env=env)
    if m["returncode"] != 0:
        raise SystemExit(f"pipeline run failed: {path}")
    stats = json.loads((out / "stats.json").read_text())
    shutil.rmtree(out)
    return {**m, "documents": stats["input"]["documents"], "kept": stats["output"]["documents"],
            "removed": stats["removed"]}


def run_peer(pair: Pair, inputs: Path, work: Path) -> dict[str, Any]:
    out = work / f"{pair.peer}-out"
    shutil.rmtree(out, ignore_errors=True)
    driver = HERE / ("run_datatrove.py" if pair.peer == "datatrove" else "run_data_juicer.py")
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}
    env.update(HF_HOME=str(ENVS / "hf_home"), DATA_JUICER_MODELS_CACHE=str(ENVS / "dj_models"))
    log = work / f"{pair.key}.log"
    with open(log, "w") as f:
        m = measure_command([str(ENVS / pair.peer / "bin" / "python"), str(driver), pair.what, str(inputs), str(out)],
                            env=env, cwd=work, stdout=f, stderr=subprocess.STDOUT)
    lines = [line for line in log.read_text().splitlines() if line.startswith('{"documents"')]
    if m["returncode"] != 0 or not lines:
        raise SystemExit(f"{pair.peer} {pair.what} failed: see {log}")
    shutil.rmtree(out)
    return {**m, **json.loads(lines[-1])}


def run_rounds(selected: list[Pair], rounds: int, work: Path, corpus: Path) -> list[float]:
    loads = [os.getloadavg()[0]]
    for r in range(rounds):
        for pair in selected:
            inputs = input_folder(work, corpus, pair.parts)
            # MinHash: ours runs again before each peer, so each pair sees the same load
            ours = run_ours(pair, inputs, work)
            peer = run_peer(pair, inputs, work)
            loads.append(os.getloadavg()[0])
            pair.runs.append({"ours": ours, "peer": peer, "round": r})
            print(f"round {r + 1} {pair.key}: ours {ours['wall_s']:.1f} s, {pair.peer} {peer['wall_s']:.1f} s, "
                  f"x{peer['wall_s'] / ours['wall_s']:.1f} (load {loads[-1]:.1f})", flush=True)
    return loads


def table(selected: list[Pair], loads: list[float], started: str, ended: str, rounds: int) -> str:
    peers_name = {"datatrove": "datatrove 0.10.1", "data_juicer": "Data-Juicer 1.6.1"}
    lines = [
        f"Measured {time.strftime('%Y-%m-%d', time.gmtime())} by `python bench/peers/bench_peers.py --rounds {rounds}` "
        f"(2 workers each, whole processes, {rounds} round(s) interleaved; median wall seconds); this project "
        f"run by `{OURS_PYTHON[0]}`.",
        f"Machine load (1-min average) during the run: {min(loads):.1f}-{max(loads):.1f}; `uptime` at start: "
        f"`{started}`; at end: `{ended}`.",
        "",
        "| run | docs | tool | kept | removed | wall s | CPU s | peer / ours (wall) |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for pair in selected:
        ours = [x["ours"] for x in pair.runs]
        peer = [x["peer"] for x in pair.runs]
        ratio = statistics.median(p["wall_s"] / o["wall_s"] for o, p in zip(ours, peer))
        docs = ours[0]["documents"]
        for name, runs, cell in (("this project", ours, ""), (peers_name[pair.peer], peer, f"**{ratio:.1f}x**")):
            wall = statistics.median(x["wall_s"] for x in runs)
            cpu = statistics.median(x["cpu_s"] for x in runs)
            lines.append(f"| {pair.label} | {docs:,} | {name} | {runs[0]['kept']:,} | {runs[0]['removed']:,} | "
                         f"{wall:.1f} | {cpu:.1f} | {cell} |")
    return "\n".join(lines)


def write_results(text: str) -> None:
    body = RESULTS.read_text()
    block = f"{BEGIN}\n{text}\n{END}"
    if BEGIN in body and END in body:
        body = body[: body.index(BEGIN)] + block + body[body.index(END) + len(END):]
    else:
        body = body.rstrip("\n") + "\n\n## Peers, side by side (bench/peers)\n\n" + block + "\n"
    RESULTS.write_text(body)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rounds", type=int, default=1)
    ap.add_argument("--only", nargs="*", choices=["fineweb", "dj", "minhash"], default=None)
    ap.add_argument("--minhash-parts", type=int, default=4, help="corpus_en parts for MinHash (16: all)")
    ap.add_argument("--corpus", type=Path, default=CORPUS, help="folder of Parquet shards (default: corpus_en)")
    ap.add_argument("--work", type=Path, default=ROOT / "bench" / "_work" / "peers")
    ap.add_argument("--no-write", action="store_true", help="print the table, leave bench/RESULTS.md alone")
    ap.add_argument("--ours-python", default=sys.executable,
                    help="the Python that runs this project (default: this one; the test venv has pandas, which "
                         "pyarrow then imports in every worker, ~0.25 s; a venv of `pip install -e .` has none)")
    args = ap.parse_args()
    OURS_PYTHON[0] = args.ours_python
    for peer in ("datatrove", "data_juicer"):
        if not (ENVS / peer / ".installed").exists():
            raise SystemExit(f"no {peer} environment in {ENVS}: run bench/peers/make_envs.py first")
    selected = [p for p in pairs(args.minhash_parts) if args.only is None or p.key.split("-")[0] in args.only]
    args.work.mkdir(parents=True, exist_ok=True)
    started = subprocess.run(["uptime"], capture_output=True, text=True).stdout.strip()
    loads = run_rounds(selected, args.rounds, args.work, args.corpus)
    ended = subprocess.run(["uptime"], capture_output=True, text=True).stdout.strip()
    text = table(selected, loads, started, ended, args.rounds)
    print(text)
    if not args.no_write:
        write_results(text)


if __name__ == "__main__":
    main()
