"""Keep a phrasing only if it still means its labels (Dataset v2, docs/dataset.md).

Rules, each with a drop reason: ``in-ood-set`` (the sentence is in the frozen OOD test set), ``first-person``
(I/we/let's as the one doing the motion), ``two-counts`` (a count per step cannot be labelled),
``side`` (every part names its label's side, avatar's own, "my left" = the avatar's right; unsided parts name
none), ``count`` (the count words say the label's count, or none), ``verb`` (each part has its action's main
verb or an accepted synonym), ``minilm`` (MiniLM's sentence vector is nearer its own action family's canonical
captions than any other family's; sides are judged by the side rule, so left/right twins form one family).
Only the text after a correction ("walk, no wait, run") is judged.
"""
from __future__ import annotations

import json
import re
from collections import Counter
from pathlib import Path

import numpy as np

from .captions import ACTIONS as CAPTION_VERBS
from .phrasings import ACTION_IDS, CORRECTION_MARKERS, NUMBER_WORDS, side_of

OOD_PATH = Path(__file__).resolve().parent / "ood" / "ood_commands.jsonl"
# Main verbs (and the nouns that carry the action in verb-less commands like "hands up") per action.
KEYWORDS: dict[str, set[str]] = {
    "walk": {"walk", "walking", "stroll", "amble", "step", "steps", "go", "move", "head", "come", "march", "mosey", "pace", "promenade",
             "saunter", "tread", "closer", "way"},
    "run": {"run", "running", "jog", "jogging", "trot", "lope"},
    "dash": {"sprint", "dash", "race", "bolt", "charge", "rush", "zoom", "fast", "speed", "dart", "scoot", "shoot"},
    "walk-back": {"back", "backward", "backwards", "retreat", "reverse", "away"},
    "walk-side": {"left", "right", "leftward", "rightward", "leftwards", "rightwards", "sideways", "sidestep", "strafe", "shuffle"},
    "walk-turn": {"turn", "swing", "veer", "bear", "curve", "corner", "around", "round", "take", "hang", "make"},
    "bow": {"bow", "bend", "bowing", "waist", "hips"},
    "bye": {"goodbye", "bye", "bye-bye", "farewell", "off", "parting", "long", "see"},
    "byebye": {"goodbye", "bye", "bye-bye", "farewell", "off", "see"},
    "call": {"beckon", "call", "summon", "come-here", "come-closer", "over", "come", "approach"},
    "guide": {"way", "point", "show", "direct", "usher", "guide", "indicate", "lead", "direction", "gesture", "guiding"},
    "kick": {"kick", "boot", "punt", "dropkick"},
    "punch": {"punch", "punches", "jab", "jabs", "hit", "strike", "box", "hook", "fist", "fists", "knock", "sock"},
    "respond": {"answer", "respond", "reply", "volunteer", "present", "here", "raising", "raise", "raised", "up"},
    "slash": {"slash", "sword", "blade", "katana", "saber", "sabre", "swing", "cut", "slice", "chop", "hack"},
    "dance-short": {"dance", "dancing", "boogie", "groove", "bop", "jive", "moves", "move", "fantastic"},
    "raise-both": {"raise", "lift", "up", "sky", "hold", "reach", "stretch", "stick", "throw", "put", "air", "above", "over", "high"},
    "raise-one": {"raise", "lift", "up", "reach", "hold", "stretch", "stick", "put", "air", "above", "over", "high"},
    "wave-both": {"wave", "waving", "hi", "hello", "greet"},
    "wave-one": {"wave", "waving", "hi", "hello", "greet"},
}
FAMILY = {"walk-left": "walk-side", "walk-right": "walk-side", "walk-turn-left": "walk-turn", "walk-turn-right": "walk-turn",
          "raise-up-left-hand": "raise-one", "raise-up-right-hand": "raise-one", "raise-up-both-hands": "raise-both",
          "wave-left-hand": "wave-one", "wave-right-hand": "wave-one", "wave-both-hands": "wave-both"}
_ACTION_VERBS = ("walk|stroll|run|jog|sprint|dash|bow|wave|kick|punch|jab|slash|dance|raise|lift|step|move|go|turn|beckon|"
                 "point|guide|respond|answer")
FIRST_PERSON = re.compile(rf"\b(i|we)\s+(will\s+|'ll\s+|shall\s+|am\s+|'m\s+|are\s+|'re\s+|can\s+|now\s+|then\s+)*"
                          rf"({_ACTION_VERBS})\w*|\blet(')?s\s+({_ACTION_VERBS})\b|\blet us\s+({_ACTION_VERBS})\b|\bmy(self)? (turn|move)\b",
                          re.IGNORECASE)
_NOT_COUNTS = re.compile(r"\b(one|two)[- ](hand|handed|arm|armed|leg|foot)\w*|\bwith one\b|\bone of\b", re.IGNORECASE)
_COUNT_WORDS = {w: n for n, w in NUMBER_WORDS.items()} | {"couple": 2, "twice": 2, "eleven": 11}


def family(action: str) -> str:
    """The MiniLM comparison class of an action (left/right twins share one)."""
    return FAMILY.get(action, action)


# Canonical captions added to the caption grammar's, where its verb phrases miss how the clip is usually described.
EXTRA_CAPTIONS = {"walk-side": ["a person walks sideways to the side.", "a person steps sideways."],
                  "dash": ["a person sprints as fast as possible."], "bye": ["a person waves goodbye with one hand."],
                  "respond": ["a person raises a hand to answer a question."], "guide": ["a person shows the way with a hand gesture."]}


def canonical_captions() -> dict[str, list[str]]:
    """family -> canonical descriptive captions ("a person walks forward."): the caption grammar's and EXTRA_CAPTIONS."""
    out: dict[str, list[str]] = {f: list(c) for f, c in EXTRA_CAPTIONS.items()}
    for action in ACTION_IDS:
        out.setdefault(family(action), []).extend(f"a person {third}." for third, _ in CAPTION_VERBS[action])
    return {k: sorted(set(v)) for k, v in out.items()}


def normalize(text: str) -> str:
    """Lower case, punctuation removed, single spaces (for set membership and n-grams)."""
    return " ".join(re.findall(r"[a-z0-9']+", text.lower()))


def ood_texts(path: Path = OOD_PATH) -> set[str]:
    """Normalized texts of the OOD test set (the training phrasings must not contain them)."""
    return {normalize(json.loads(line)["text"]) for line in path.read_text().splitlines() if line.strip()} - {""}


def effective(text: str) -> str:
    """The text after the last correction marker."""
    lowered = text.lower()
    cut = max((lowered.rfind(m.lower()) + len(m) for m in CORRECTION_MARKERS if m.lower() in lowered), default=0)
    return text[cut:]


def sides_named(text: str) -> set[str]:
    """Avatar sides a text names: "left"/"right" (avatar's own), "my left" -> right, "my right" -> left."""
    out = set()
    for m in re.finditer(r"\b(my\s+)?(left|right)(ward|wards)?\b", text.lower()):
        side = m.group(2)
        out.add({"left": "right", "right": "left"}[side] if m.group(1) else side)
    return out


def counts_named(text: str) -> list[int]:
    """Numbers a text says (words, digits, "a couple", "twice"), ignoring "one hand", "two-handed"."""
    cleaned = _NOT_COUNTS.sub(" ", text.lower())
    out = [int(d) for d in re.findall(r"\b\d+\b", cleaned)]
    return out + [_COUNT_WORDS[w] for w in re.findall(r"[a-z]+", cleaned) if w in _COUNT_WORDS]


def rule_reasons(row: dict, ood: set[str]) -> list[str]:
    """Drop reasons from the lexical rules (everything but MiniLM); [] = passes."""
    reasons = []
    text = effective(row["text"])
    if normalize(row["text"]) in ood:
        reasons.append("in-ood-set")
    if FIRST_PERSON.search(text):
        reasons.append("first-person")
    if "two-counts" in row.get("tags", []):
        reasons.append("two-counts")
    parts = row.get("parts") or [text]
    for action, part in zip(row["actions"], parts):
        side, named = side_of(action), sides_named(part)
        if side in ("left", "right") and named != {side}:
            reasons.append(f"side: {action} part names {sorted(named) or 'no side'}")
        elif side == "both" and not re.search(r"\bboth\b|\bhands\b|\barms\b|two-handed", part.lower()):
            reasons.append(f"side: {action} part does not say both hands")
        elif side not in ("left", "right") and named:
            reasons.append(f"side: {action} part names {sorted(named)}")
        words = set(re.findall(r"[a-z-]+", part.lower()))
        if not words & KEYWORDS[family(action)]:
            reasons.append(f"verb: no main verb of {action}")
    whole = sides_named(text)
    allowed = {side_of(a) for a in row["actions"]} & {"left", "right"}
    if whole - allowed:
        reasons.append(f"side: text names {sorted(whole - allowed)} outside the commands")
    said = counts_named(text)
    if row.get("count") is None and said and "two-counts" not in row.get("tags", []):
        reasons.append(f"count: says {said}, label has none")
    elif row.get("count") is not None and row["count"] not in said:
        reasons.append(f"count: label {row['count']} not said")
    return reasons


def minilm_reasons(rows: list[dict], store: Path) -> list[list[str]]:
    """Per row: ["minilm: nearest <family>"] where MiniLM's nearest canonical family is not the label's."""
    from ..train.conditions import embed_sentences

    captions = canonical_captions()
    families = sorted(captions)
    queries = []
    for row in rows:
        queries.append([effective(row["text"])] if len(row["actions"]) == 1 else list(row["parts"]))
    sentences = sorted({q for qs in queries for q in qs} | {c for cs in captions.values() for c in cs})
    vectors = embed_sentences(sentences, store)
    cap = {f: np.stack([vectors[c] for c in captions[f]]) for f in families}
    out = []
    for row, qs in zip(rows, queries):
        reasons = []
        for action, q in zip(row["actions"], qs):
            v = vectors[q]
            best = max(families, key=lambda f: float((cap[f] @ v).max()))
            if best != family(action):
                reasons.append(f"minilm: nearest {best}, label {family(action)}")
        out.append(reasons)
    return out


def filter_phrasings(rows: list[dict], store: Path, ood_path: Path = OOD_PATH) -> tuple[list[dict], list[dict]]:
    """(kept rows with ids, dropped rows with their reasons). MiniLM runs only on rows that pass the rules."""
    ood = ood_texts(ood_path)
    lexical = [rule_reasons(r, ood) for r in rows]
    passing = [r for r, why in zip(rows, lexical) if not why]
    semantic = iter(minilm_reasons(passing, store)) if passing else iter(())
    kept, dropped = [], []
    for row, why in zip(rows, lexical):
        if not why:
            why = next(semantic)
        if why:
            dropped.append(dict(row, reasons=why))
        else:
            kept.append(dict(row, id=f"ph-{len(kept):06d}"))
    return kept, dropped


def ngrams(text: str, n: int = 4) -> set[tuple[str, ...]]:
    """Word n-grams of a normalized text."""
    words = normalize(text).split()
    return {tuple(words[i:i + n]) for i in range(len(words) - n + 1)}


def overlap_with_ood(kept: list[dict], ood_path: Path = OOD_PATH) -> dict:
    """Exact OOD sentences among the kept phrasings, and the share of OOD 4-grams that training also has."""
    ood_rows = [json.loads(line) for line in ood_path.read_text().splitlines() if line.strip()]
    train_texts = {normalize(r["text"]) for r in kept}
    train_grams = set().union(*(ngrams(r["text"]) for r in kept)) if kept else set()
    ood_grams = [ngrams(r["text"]) for r in ood_rows if r["text"]]
    all_ood = set().union(*ood_grams)
    return {"ood_exact_overlap": sum(normalize(r["text"]) in train_texts for r in ood_rows if r["text"]),
            "ood_4gram_overlap": round(len(all_ood & train_grams) / max(1, len(all_ood)), 4),
            "ood_sentences_sharing_a_4gram": sum(bool(g & train_grams) for g in ood_grams),
            "ood_sentences_with_4grams": sum(bool(g) for g in ood_grams)}


def stats_of(kept: list[dict], dropped: list[dict]) -> dict:
    """Counts for docs/dataset.md: keep rate, drop reasons, per-action/style counts, vocabulary, shapes, OOD overlap."""
    reasons = Counter(r.split(":")[0] for row in dropped for r in row["reasons"][:1])
    single = Counter(r["actions"][0] for r in kept if r["kind"] == "single")
    styled = Counter(f"{r['actions'][0]}/{r['style']}" for r in kept if r["kind"] == "styled")
    vocab = {w for r in kept for w in re.findall(r"[a-z']+", r["text"].lower())}
    total = len(kept) + len(dropped)
    return {"candidates": total, "kept": len(kept), "keep_rate": round(len(kept) / max(1, total), 4),
            "dropped_by_reason": dict(sorted(reasons.items())), "kinds": dict(Counter(r["kind"] for r in kept)),
            "single_per_action": dict(sorted(single.items())), "min_distinct_single_per_action": min(single.values(), default=0),
            "styled_per_action_style": dict(sorted(styled.items())),
            "keep_rate_by_source": {s: round(sum(r["source"] == s for r in kept) /
                                             max(1, sum(r["source"] == s for r in kept + dropped)), 4)
                                    for s in sorted({r["source"] for r in kept + dropped})},
            "vocabulary": len(vocab), "shapes": len({r["shape"] for r in kept}),
            "sentence_shapes_single": len({r["shape"] for r in kept if r["shape"].startswith("s")}),
            "connectives_two_step": len({r["shape"] for r in kept if r["shape"].startswith("c")}),
            **overlap_with_ood(kept)}
