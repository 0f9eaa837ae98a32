"""Dataset v2 phrasings: generator determinism and labels, the meaning filter, OOD/training disjointness."""
import json

import numpy as np
import pytest

from kinevox_train.data import phrasing_filter as pf
from kinevox_train.data import phrasings as ph

COMMITTED = ph.DEFAULT_OUT / "phrasings.jsonl.gz"


def test_generator_is_deterministic_for_a_seed():
    a = ph.single_candidates("walk-left", 0) + ph.styled_candidates("wave-right-hand", 0)
    b = ph.single_candidates("walk-left", 0) + ph.styled_candidates("wave-right-hand", 0)
    c = ph.single_candidates("walk-left", 1)
    assert a == b
    assert [r["text"] for r in c] != [r["text"] for r in a[:len(c)]]


@pytest.mark.parametrize("action", ["walk-left", "walk-right", "raise-up-left-hand", "wave-right-hand", "walk-turn-left"])
def test_sided_candidates_name_their_own_side(action):
    side = ph.side_of(action)
    rows = ph.single_candidates(action, 0, per_action=300) + ph.styled_candidates(action, 0, per_style=10)
    for row in rows:
        assert row["side"] == side
        assert pf.sides_named(row["parts"][0]) == {side}, row["text"]
    # "to my right" is the avatar's left: such phrasings exist and are labelled with the avatar's side
    flipped = [r for r in rows if f"my {'right' if side == 'left' else 'left'}" in r["text"]]
    if action != "walk-turn-left":
        assert flipped


def test_counts_are_said_and_labelled():
    rows = [r for a in ("walk", "walk-back", "punch", "bow") for r in ph.single_candidates(a, 0, per_action=400)]
    counted = [r for r in rows if r["count"] is not None]
    assert len(counted) > 20
    for row in counted:
        assert row["count"] in pf.counts_named(pf.effective(row["text"])), row["text"]
    for row in rows:
        if row["count"] is None:
            assert not pf.counts_named(row["parts"][0]), row["text"]


def test_two_step_keeps_execution_order():
    rows = [r for r in ph.two_step_candidates(0, per_pair=3) if r["actions"] == ["walk", "wave-right-hand"]]
    assert rows and all(len(r["parts"]) == 2 for r in rows)
    reversed_shapes = [r for r in ph.two_step_candidates(0) if r["shape"] in ("c07", "c08")]
    for row in reversed_shapes:  # "before you Y, X" / "Y, but X first": labels stay in execution order
        assert row["text"].index(row["parts"][1]) < row["text"].index(row["parts"][0]) or row["parts"][0] == row["parts"][1]


def _row(text, actions, count=None, parts=None):
    return {"text": text, "actions": actions, "count": count, "parts": parts or [text], "tags": []}


@pytest.mark.parametrize("text, actions, count, reason", [
    ("raise your left hand", ["raise-up-left-hand"], None, None),
    ("raise the hand on my right", ["raise-up-left-hand"], None, None),
    ("step over to my left", ["walk-right"], None, None),
    ("take four steps ahead", ["walk"], 4, None),
    ("raise your right hand", ["raise-up-left-hand"], None, "side"),
    ("wave with your hand", ["wave-left-hand"], None, "side"),
    ("walk forward three steps", ["walk"], None, "count"),
    ("take five steps forward", ["walk"], 3, "count"),
    ("I walk forward slowly", ["walk"], None, "first-person"),
    ("we're going to bow now, let's bow", ["bow"], None, "first-person"),
    ("dance a little bit", ["kick"], None, "verb"),
    ("wave goodbye with one hand", ["bye"], None, None),
    ("go forward ten meters", ["walk"], 10, "in-ood-set"),
])
def test_filter_rules_on_known_rewrites(text, actions, count, reason):
    reasons = pf.rule_reasons(_row(text, actions, count), pf.ood_texts())
    if reason is None:
        assert reasons == []
    else:
        assert any(r.startswith(reason) for r in reasons), reasons


def test_filter_minilm_rule(tmp_path):
    rows = [_row("wave goodbye with both of your arms", ["byebye"]), _row("kick the ball hard", ["bow"]),
            _row("sprint forward as fast as you can", ["dash"]), _row("take a bow for the audience", ["slash"])]
    reasons = pf.minilm_reasons(rows, tmp_path / "store.npz")
    assert reasons[0] == [] and reasons[2] == []
    assert reasons[1] and reasons[3]


def test_corrections_are_judged_after_the_marker():
    row = _row("raise your right hand, no wait, raise your left hand", ["raise-up-left-hand"], parts=["raise your left hand"])
    assert pf.effective(row["text"]).strip() == "raise your left hand"
    assert pf.rule_reasons(row, set()) == []


def test_committed_phrasings_are_disjoint_from_ood_and_meet_the_targets():
    kept = ph.read_phrasings(COMMITTED)
    ood = pf.ood_texts()
    assert not {pf.normalize(r["text"]) for r in kept} & ood
    stats = json.loads((ph.DEFAULT_OUT / "stats.json").read_text())
    assert stats["kept"] == len(kept) and stats["ood_exact_overlap"] == 0
    per_action = {}
    for r in kept:
        if r["kind"] == "single":
            per_action.setdefault(r["actions"][0], set()).add(r["text"])
    assert set(per_action) == set(ph.ACTION_IDS) and min(len(v) for v in per_action.values()) >= 100
    assert stats["vocabulary"] >= 2000 and stats["sentence_shapes_single"] >= 30
    for r in kept[::97]:
        assert r["actions"] and all(a in ph.ACTION_IDS for a in r["actions"])
        assert r["style"] is None or r["style"] in ph.styles_of(r["actions"][0])


def test_ood_set_is_well_formed():
    rows = [json.loads(line) for line in pf.OOD_PATH.read_text().splitlines()]
    assert len(rows) >= 400 and len({r["id"] for r in rows}) == len(rows)
    kinds = {k: sum(r["kind"] == k for r in rows) for k in ("single", "styled", "two-step", "non-command")}
    assert kinds["styled"] >= 60 and kinds["two-step"] >= 60 and kinds["non-command"] >= 30
    for action in ph.ACTION_IDS:
        assert sum(action in r["actions"] for r in rows) >= 8, action
    for r in rows:
        assert set(r) >= {"id", "text", "kind", "actions", "style", "side", "count"}
        assert (r["kind"] == "non-command") == (r["actions"] == [])
        assert r["text"] or r["audio"] in ("silence", "white-noise", "pink-noise")
        assert r["side"] in (None, "left", "right", "both")


def test_lexicon_verdicts_only_keep_proposed_words():
    pytest.importorskip("kinevox_train.data.lexicon")
    from kinevox_train.data import lexicon

    if not lexicon.WORDNET_DIR.exists() or not lexicon.MYTHES_DAT.exists():
        pytest.skip("wordnet-base / mythes-en-us not installed")
    log = ph.lexicon_log()
    accepted = {w for entry in log.values() if isinstance(entry, dict) for w in entry["accepted"]}
    assert {"amble", "saunter", "jog", "lope", "usher", "boogie"} <= accepted
    assert "flee" in log["run:run"]["rejected"] and "flee" not in accepted
    assert np.all([w in ph.ACCEPTED[a.split(":")[0]] for a, e in log.items() if isinstance(e, dict) for w in e["accepted"]])


def test_llm_rewrite_parsing_and_prompt(tmp_path):
    from kinevox_train.data import llm_rewrites

    assert llm_rewrites.parse_lines('1. Wave your left hand!\n- "go on, wave it"\nHere are rewrites:\nok') == \
        ["wave your left hand!", "go on, wave it"]
    prompt = llm_rewrites.prompt_text({"actions": ["walk-back"], "count": 3, "command": "take three steps back"})
    assert "number 3" in prompt and "take three steps back" in prompt
    assert "left side" in llm_rewrites.prompt_text({"actions": ["wave-left-hand"], "count": None, "command": "wave your left hand"})
    raw = tmp_path / "raw.jsonl.gz"
    import gzip

    with gzip.open(raw, "wt") as f:
        f.write(json.dumps({"prompt_id": "bow:0", "actions": ["bow"], "count": None, "command": "bow",
                            "rewrites": ["take a bow for us", "I bow to you"]}) + "\n")
    rows = llm_rewrites.candidates(raw)
    assert [r["source"] for r in rows] == ["llm", "llm"]
    reasons = [pf.rule_reasons(r, set()) for r in rows]
    assert reasons[0] == [] and any(x.startswith("first-person") for x in reasons[1])
