"""Data-Juicer's redpajama-cc-2023-06-refine recipe: Data-Juicer 1.6.1 running it vs this project
running `pipeline convert-dj`'s conversion of it, on the same shards, interleaved, 2 processes each.

  python bench/peers/make_envs.py                       # once
  python bench/peers/bench_dj_recipe.py [--rounds 2] [--parts 2] [--no-write]

Offline, both sides run the recipe without the two steps that need Data-Juicer's downloads: its
perplexity_filter (a Wikipedia KenLM model) is dropped, and `tokenization: true` (a SentencePiece
model) becomes false; its flagged-words filter reads this project's English list (Data-Juicer
downloads its own). Everything else runs as published (SimHash dedup, the five mappers, eleven
filters). The ratio is Data-Juicer's wall seconds over ours, median over rounds; the table goes
between the dj-recipe markers of bench/RESULTS.md.
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
from pathlib import Path
from typing import Any

import yaml

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(HERE))

from bench_peers import CORPUS, ENVS, RESULTS, input_folder  # noqa: E402
from measure import measure_command  # noqa: E402

from tests.pipeline.test_convert_dj import CC_2023_06  # noqa: E402 - the recipe, in Data-Juicer's format

BEGIN, END = "<!-- dj recipe bench: begin -->", "<!-- dj recipe bench: end -->"


def offline_recipe(words_dir: Path) -> dict[str, Any]:
    """The recipe as Data-Juicer can run it offline (see the module docstring); its flagged-words
    filter reads this project's English list from `words_dir` (Data-Juicer downloads its own)."""
    words = [w for w in (ROOT / "operators" / "quality" / "wordlists" / "flagged_en.txt").read_text().splitlines()
             if w and not w.startswith("#")]
    words_dir.mkdir(parents=True, exist_ok=True)
    (words_dir / "flagged_words.json").write_text(json.dumps({"en": words}))
    steps = []
    for step in CC_2023_06["process"]:
        (name, params), = (step if isinstance(step, dict) else {step: {}}).items()
        if name == "perplexity_filter":
            continue
        params = {k: (False if k == "tokenization" and v is True else v) for k, v in (params or {}).items()}
        steps.append({name: params})
    return {**CC_2023_06, "process": steps}


def run_ours(dj_recipe: Path, inputs: Path, work: Path) -> dict[str, Any]:
    out, ours = work / "ours-out", work / "ours.yaml"
    shutil.rmtree(out, ignore_errors=True)
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    subprocess.run([sys.executable, "-m", "pipeline.cli", "convert-dj", str(dj_recipe), "--out", str(ours),
                    "--input", str(inputs / "*.parquet"), "--output", str(out), "--workers", "2"],
                   env=env, check=True, cwd=ROOT)
    recipe = yaml.safe_load(ours.read_text())
    recipe["output"]["report"] = False
    ours.write_text(yaml.safe_dump(recipe, sort_keys=False))
    m = measure_command([sys.executable, "-m", "pipeline.cli", "run", str(ours), "--quiet"], env=env)
    if m["returncode"] != 0:
        raise SystemExit(f"pipeline run failed: {ours}")
    stats = json.loads((out / "stats.json").read_text())
    shutil.rmtree(out)
    return {**m, "documents": stats["input"]["documents"], "kept": stats["output"]["documents"]}


def run_data_juicer(dj_recipe: Path, inputs: Path, work: Path) -> dict[str, Any]:
    recipe = yaml.safe_load(dj_recipe.read_text())
    for step in recipe["process"]:
        if "flagged_words_filter" in step:
            step["flagged_words_filter"]["flagged_words_dir"] = str(work / "dj_words")
    dj_recipe = work / "dj.yaml"
    dj_recipe.write_text(yaml.safe_dump(recipe, sort_keys=False))
    out = work / "dj-out"
    shutil.rmtree(out, ignore_errors=True)
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}
    env.update(HF_HOME=str(ENVS / "hf_home"), DATA_JUICER_MODELS_CACHE=str(ENVS / "dj_models"))
    log = work / "dj.log"
    with open(log, "w") as f:
        m = measure_command([str(ENVS / "data_juicer" / "bin" / "python"), str(HERE / "run_data_juicer.py"), "recipe",
                             str(inputs), str(out), "--recipe", str(dj_recipe)], env=env, cwd=work, stdout=f,
                            stderr=subprocess.STDOUT)
    lines = [line for line in log.read_text().splitlines() if line.startswith('{"documents"')]
    if m["returncode"] != 0 or not lines:
        raise SystemExit(f"Data-Juicer failed: see {log}")
    shutil.rmtree(out)
    return {**m, **json.loads(lines[-1])}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--rounds", type=int, default=1)
    ap.add_argument("--parts", type=int, default=2)
    ap.add_argument("--no-write", action="store_true")
    args = ap.parse_args()
    if not (ENVS / "data_juicer" / ".installed").exists():
        raise SystemExit(f"no data_juicer environment in {ENVS}: run bench/peers/make_envs.py first")
    work = ROOT / "bench" / "_work" / "dj_recipe"
    work.mkdir(parents=True, exist_ok=True)
    dj_recipe = work / "redpajama-cc-2023-06-refine.offline.yaml"
    dj_recipe.write_text(yaml.safe_dump(offline_recipe(work / "dj_words"), sort_keys=False))
    inputs = input_folder(work, CORPUS, args.parts)
    started, loads = time.strftime("%H:%M"), [os.getloadavg()[0]]
    ours, theirs = [], []
    for _ in range(args.rounds):
        ours.append(run_ours(dj_recipe, inputs, work))
        theirs.append(run_data_juicer(dj_recipe, inputs, work))
        loads.append(os.getloadavg()[0])
    wall_ours = statistics.median(r["wall_s"] for r in ours)
    wall_dj = statistics.median(r["wall_s"] for r in theirs)
    text = (f"Measured {time.strftime('%Y-%m-%d')} {started}-{time.strftime('%H:%M')} UTC by `python "
            f"bench/peers/bench_dj_recipe.py --rounds {args.rounds} --parts {args.parts}` (2 processes each, whole "
            f"processes, interleaved; load {min(loads):.1f}-{max(loads):.1f}).\n\n"
            "| tool | documents | kept | wall s (median) | CPU s | Data-Juicer / ours (wall) |\n|---|---|---|---|---|---|\n"
            f"| this project (converted recipe) | {ours[0]['documents']:,} | {ours[0]['kept']:,} | {wall_ours:.1f} | "
            f"{statistics.median(r['cpu_s'] for r in ours):.1f} | |\n"
            f"| Data-Juicer 1.6.1 (the recipe) | {theirs[0]['documents']:,} | {theirs[0]['kept']:,} | {wall_dj:.1f} | "
            f"{statistics.median(r['cpu_s'] for r in theirs):.1f} | **{wall_dj / wall_ours:.1f}x** |\n")
    print(text)
    if not args.no_write:
        body = RESULTS.read_text()
        block = f"{BEGIN}\n{text}{END}"
        if BEGIN in body:
            body = body[:body.index(BEGIN)] + block + body[body.index(END) + len(END):]
        else:
            body = body.rstrip("\n") + "\n\n## Data-Juicer recipe, side by side (bench/peers)\n\n" + block + "\n"
        RESULTS.write_text(body)


if __name__ == "__main__":
    main()
