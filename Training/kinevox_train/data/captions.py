"""Caption grammar: descriptive "original" captions (HumanML3D style) and conversational "oral" rewrites.

Each motion label (action, style) expands into several original captions such as "an elderly person walks
forward slowly, hunched over." Each original is rewritten into at least five oral commands ("could you
walk forward slowly, hunched over like an old man?", "um, I want you to ..."). All choices come from a
``random.Random`` seeded from (seed, clip id), so the same seed gives the same text on every machine.

Run from Training/: ``python -m kinevox_train.data.captions --cache DIR`` (after the motion step). Writes
``DIR/motion/texts/<clip id>.txt`` (HumanML3D layout: ``caption#tokens#0.0#0.0``, originals only) and
``DIR/captions/captions.json`` ({clip id: {"original": [...], "oral": [[...], ...]}}, oral[i] rewrites
original[i]).
"""
from __future__ import annotations

import argparse
import hashlib
import json
import random
import re
from dataclasses import dataclass
from pathlib import Path

from tqdm import tqdm

# Action -> list of verb phrases as (third person, base form). {side} never occurs: sides are in the label.
ACTIONS: dict[str, list[tuple[str, str]]] = {
    "walk": [("walks forward", "walk forward"), ("walks straight ahead", "walk straight ahead"),
             ("takes a few steps forward", "take a few steps forward"), ("strolls forward", "stroll forward")],
    "run": [("runs forward", "run forward"), ("jogs ahead", "jog ahead"), ("runs straight ahead", "run straight ahead")],
    "dash": [("sprints forward", "sprint forward"), ("dashes ahead at full speed", "dash ahead at full speed"),
             ("breaks into a sprint", "break into a sprint")],
    "walk-back": [("walks backward", "walk backward"), ("steps backwards", "step backwards"),
                  ("walks back a few steps", "walk back a few steps")],
    "walk-left": [("walks diagonally to the left", "walk diagonally to the left"),
                  ("walks forward and to the left", "walk forward and to the left")],
    "walk-right": [("walks diagonally to the right", "walk diagonally to the right"),
                   ("walks forward and to the right", "walk forward and to the right")],
    "walk-turn-left": [("walks and turns left", "walk and turn left"), ("walks forward and makes a left turn", "walk forward and make a left turn"),
                       ("turns to the left while walking", "turn to the left while walking")],
    "walk-turn-right": [("walks and turns right", "walk and turn right"), ("walks forward and makes a right turn", "walk forward and make a right turn"),
                        ("turns to the right while walking", "turn to the right while walking")],
    "bow": [("bows", "bow"), ("bends forward at the waist in a bow", "bend forward at the waist in a bow"),
            ("takes a bow", "take a bow")],
    "bye": [("waves goodbye with one hand", "wave goodbye with one hand"), ("waves a hand to say goodbye", "wave a hand to say goodbye")],
    "byebye": [("waves goodbye with both hands", "wave goodbye with both hands"),
               ("waves both arms to say bye bye", "wave both arms to say bye bye")],
    "guide": [("gestures with an arm to show the way", "gesture with your arm to show the way"),
              ("points the way with an open hand", "point the way with an open hand")],
    "respond": [("raises a hand to answer", "raise a hand to answer"), ("puts a hand up to respond", "put a hand up to respond")],
    "call": [("calls someone over with a wave", "call someone over with a wave"), ("beckons someone to come closer", "beckon someone to come closer")],
    "punch": [("throws punches", "throw punches"), ("punches forward", "punch forward"), ("throws a few jabs", "throw a few jabs")],
    "kick": [("kicks", "kick"), ("kicks forward with one leg", "kick forward with one leg"), ("does a kick", "do a kick")],
    "slash": [("slashes with a sword", "slash with a sword"), ("swings a sword overhead", "swing a sword overhead")],
    "dance-short": [("dances", "dance"), ("does a short dance", "do a short dance"), ("dances in place", "dance in place")],
    "dance-long": [("dances", "dance"), ("does a long dance", "do a long dance")],
    "wave-both-hands": [("waves both hands", "wave both hands"), ("waves with both arms", "wave with both arms")],
    "wave-left-hand": [("waves the left hand", "wave your left hand"), ("waves with the left hand", "wave with your left hand")],
    "wave-right-hand": [("waves the right hand", "wave your right hand"), ("waves with the right hand", "wave with your right hand")],
    "raise-up-both-hands": [("raises both hands up", "raise both hands up"), ("lifts both arms above the head", "lift both arms above your head")],
    "raise-up-left-hand": [("raises the left hand", "raise your left hand"), ("lifts the left arm up", "lift your left arm up")],
    "raise-up-right-hand": [("raises the right hand", "raise your right hand"), ("lifts the right arm up", "lift your right arm up")],
}

# Style -> (subjects for originals, manner phrases). Manner phrases read after either verb form.
STYLES: dict[str, tuple[list[str], list[str]]] = {
    "normal": (["a person", "someone", "a man", "the person"], ["", "normally", "in a relaxed way"]),
    "happy": (["a happy person", "a cheerful person"], ["happily", "cheerfully, with a bounce"]),
    "sad": (["a sad person", "a gloomy person"], ["sadly, with the head down", "sadly and slowly"]),
    "angry": (["an angry person", "an irritated person"], ["angrily", "angrily, with stiff heavy moves"]),
    "proud": (["a proud person", "a confident person"], ["proudly, chest out", "proudly with the head held high"]),
    "not-confident": (["a shy person", "an unsure person"], ["timidly", "hesitantly, without confidence"]),
    "masculinity": (["a man", "a macho person"], ["in a masculine way", "in a manly, broad way"]),
    "masculine": (["a man", "a macho person"], ["in a masculine way", "in a manly, broad way"]),
    "feminine": (["a woman", "a graceful person"], ["in a feminine way", "gracefully, in a feminine manner"]),
    "childish": (["a child", "a playful kid"], ["like a child", "playfully, like a little kid"]),
    "old": (["an elderly person", "an old man"], ["slowly, hunched over", "like an old person, bent over"]),
    "elderly": (["an elderly person", "an old woman"], ["slowly, hunched over", "like an elderly person, stooped"]),
    "tired": (["a tired person", "a weary person"], ["wearily", "tiredly, dragging along"]),
    "exhausted": (["an exhausted person", "a worn out person"], ["as if exhausted", "wearily, out of energy"]),
    "active": (["an energetic person", "a lively person"], ["energetically", "actively, full of energy"]),
    "youthful": (["a young person", "a youthful person"], ["in a youthful, lively way", "briskly, like a teenager"]),
    "musical": (["a performer", "a person on stage"], ["like in a musical", "theatrically, as in a musical"]),
    "giant": (["a giant", "a huge heavy person"], ["like a giant, with heavy steps", "heavily, like a giant"]),
    "chimpira": (["a thug", "a street punk"], ["like a thug, swaggering", "with a swagger, like a street punk"]),
}

# Second-person versions of manner phrases that mention a body ("the head" -> "your head").
_SECOND_PERSON = [(r"\bthe head\b", "your head"), (r"\bthe left\b(?= (hand|arm))", "your left"),
                  (r"\bthe right\b(?= (hand|arm))", "your right"), (r"\ban arm\b", "your arm"), (r"\ba hand\b", "your hand")]

GENERIC_SUBJECTS = ["a person", "someone", "the person"]
FILLERS = ["um,", "uh,", "okay,", "so,", "hey,", "listen,", "well,", "okay so,", "hmm,", "now then,"]
# Oral templates: {v} = base-form verb phrase with manner; {vb} = bare verb phrase, {m} = manner alone.
ORAL_TEMPLATES = [
    "{v}", "please {v}", "{v}, please", "could you {v}?", "can you {v}?", "would you {v}?",
    "I want you to {v}", "I'd like you to {v}", "go ahead and {v}", "now {v}", "let's see you {v}",
    "I need you to {v}", "try to {v}", "how about you {v}?", "will you {v} for me?", "{m}, {vb}",
    "{v} for me", "show me how you {v}", "time to {v}", "why don't you {v}?",
]
SYNONYMS = [(r"\bforward\b", ["forward", "ahead", "forwards"]), (r"\bslowly\b", ["slowly", "slow"]),
            (r"\bquickly\b", ["quickly", "fast"]), (r"\bsomeone\b", ["someone", "somebody"]),
            (r"\braise\b", ["raise", "lift"])]
N_ORIGINAL = 3
N_ORAL = 5


@dataclass(frozen=True)
class CaptionPlan:
    """One original caption's choices: verb phrase pair and manner phrase, plus its subject."""

    third: str
    base: str
    manner: str
    subject: str


def clip_rng(seed: int, key: str) -> random.Random:
    """Deterministic RNG for one clip id (stable across Python runs, unlike ``hash``)."""
    digest = hashlib.sha256(f"{seed}:{key}".encode()).digest()
    return random.Random(int.from_bytes(digest[:8], "little"))


def second_person(text: str) -> str:
    """Rewrite body references of a manner phrase for a command ("the head" -> "your head")."""
    for pattern, replacement in _SECOND_PERSON:
        text = re.sub(pattern, replacement, text)
    return text


def plans(action: str, style: str, rng: random.Random, n: int = N_ORIGINAL) -> list[CaptionPlan]:
    """``n`` distinct (as far as the grammar allows) caption plans for one label."""
    if action not in ACTIONS or style not in STYLES:
        raise KeyError(f"no caption grammar for action {action!r} / style {style!r}")
    subjects, manners = STYLES[style]
    subjects = subjects + [s for s in GENERIC_SUBJECTS if s not in subjects]
    combos = [(vp, m, s) for vp in ACTIONS[action] for m in manners for s in subjects]
    rng.shuffle(combos)
    picked = combos[:n] + [rng.choice(combos) for _ in range(n - len(combos))]
    return [CaptionPlan(vp[0], vp[1], m, s) for vp, m, s in picked]


def _join(verb: str, manner: str) -> str:
    return f"{verb} {manner}".strip() if manner else verb


def original_text(plan: CaptionPlan) -> str:
    """The descriptive (HumanML3D-style) sentence of a plan."""
    return f"{plan.subject} {_join(plan.third, plan.manner)}."


def oral_texts(plan: CaptionPlan, rng: random.Random, n: int = N_ORAL) -> list[str]:
    """``n`` different conversational commands saying what ``plan`` describes."""
    manner = second_person(plan.manner)
    templates = [t for t in ORAL_TEMPLATES if manner or "{m}" not in t]
    out: list[str] = []
    for template in rng.sample(templates, len(templates)):
        text = template.format(v=_join(plan.base, manner), vb=plan.base, m=manner)
        for pattern, choices in SYNONYMS:
            text = re.sub(pattern, lambda _: rng.choice(choices), text)
        if rng.random() < 0.3:
            text = f"{rng.choice(FILLERS)} {text}"
        if text not in out:
            out.append(text)
        if len(out) == n:
            break
    return out


def captions_for(action: str, style: str, rng: random.Random) -> dict[str, list]:
    """{"original": [N_ORIGINAL captions], "oral": [[N_ORAL rewrites] per original]} for one clip."""
    chosen = plans(action, style, rng)
    return {"original": [original_text(p) for p in chosen], "oral": [oral_texts(p, rng) for p in chosen]}


def multistage_captions(first: tuple[str, str], second: tuple[str, str], rng: random.Random) -> dict[str, list]:
    """Captions for two joined clips, each (action, style): "X, then Y" in both caption styles."""
    joined = [CaptionPlan(f"{_join(a.third, a.manner)}, then {_join(b.third, b.manner)}",
                          f"{_join(a.base, second_person(a.manner))}, then {_join(b.base, second_person(b.manner))}", "", a.subject)
              for a, b in zip(plans(*first, rng), plans(*second, rng))]
    return {"original": [original_text(p) for p in joined], "oral": [oral_texts(p, rng) for p in joined]}


def tokens(text: str) -> str:
    """HumanML3D-style token field (word/OTHER; part-of-speech tags are not produced)."""
    return " ".join(f"{w}/OTHER" for w in re.findall(r"[a-z']+", text.lower()))


def vocabulary(texts: list[str]) -> set[str]:
    """Distinct lower-case words of some texts."""
    return {w for t in texts for w in re.findall(r"[a-z']+", t.lower())}


def build_captions(cache: Path, seed: int = 0) -> dict:
    """Caption every clip in ``cache/motion/index.json``; returns counts and writes the files above."""
    index = json.loads((cache / "motion" / "index.json").read_text())
    text_dir = cache / "motion" / "texts"
    text_dir.mkdir(parents=True, exist_ok=True)
    table = {}
    for clip in tqdm(index["clips"], desc="captions", unit="clip"):
        rng = clip_rng(seed, clip["id"])
        if "parts" in clip:
            (a1, a2), (s1, s2) = clip["action"].split("+"), clip["style"].split("+")
            caps = multistage_captions((a1, s1), (a2, s2), rng)
        else:
            caps = captions_for(clip["action"], clip["style"], rng)
        table[clip["id"]] = caps
        (text_dir / f"{clip['id']}.txt").write_text("".join(f"{c}#{tokens(c)}#0.0#0.0\n" for c in caps["original"]))
    out_dir = cache / "captions"
    out_dir.mkdir(parents=True, exist_ok=True)
    (out_dir / "captions.json").write_text(json.dumps(table))
    originals = [c for caps in table.values() for c in caps["original"]]
    orals = [o for caps in table.values() for group in caps["oral"] for o in group]
    stats = {
        "clips": len(table), "original_captions": len(originals), "oral_captions": len(orals),
        "unique_original": len(set(originals)), "unique_oral": len(set(orals)),
        "vocabulary_original": len(vocabulary(originals)), "vocabulary_oral": len(vocabulary(orals)),
        "vocabulary_all": len(vocabulary(originals + orals)),
    }
    (out_dir / "stats.json").write_text(json.dumps(stats, indent=1))
    return stats


def main(argv: list[str] | None = None) -> None:
    """Command line: caption every clip of a cache and print the caption statistics."""
    from .motion import DEFAULT_CACHE

    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--cache", type=Path, default=DEFAULT_CACHE)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    stats = build_captions(args.cache, args.seed)
    print(", ".join(f"{k} {v}" for k, v in stats.items()))


if __name__ == "__main__":
    main()
