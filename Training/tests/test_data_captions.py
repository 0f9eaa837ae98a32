"""Caption grammar: determinism, coverage of every Bandai action and style, oral rewrites, multi-stage."""
import pytest

from kinevox_train.data import captions as cap
from kinevox_train.data.motion import mirror_text

# Contents and styles of Bandai-Namco datasets 1 and 2 (../shared/data/README.md).
BANDAI_ACTIONS = ["walk", "run", "dash", "walk-back", "walk-left", "walk-right", "bow", "bye", "guide", "byebye",
                  "respond", "call", "punch", "kick", "slash", "dance-long", "dance-short", "walk-turn-left",
                  "walk-turn-right", "wave-both-hands", "wave-left-hand", "wave-right-hand", "raise-up-both-hands",
                  "raise-up-left-hand", "raise-up-right-hand"]
BANDAI_STYLES = ["normal", "happy", "sad", "angry", "proud", "not-confident", "masculinity", "feminine", "childish",
                 "old", "tired", "active", "musical", "giant", "chimpira", "elderly", "exhausted", "masculine", "youthful"]


def test_same_seed_same_captions_other_seed_differs():
    a = cap.captions_for("walk", "old", cap.clip_rng(0, "1_walk_old_001_0"))
    b = cap.captions_for("walk", "old", cap.clip_rng(0, "1_walk_old_001_0"))
    c = [cap.captions_for("walk", "old", cap.clip_rng(s, "1_walk_old_001_0")) for s in range(1, 6)]
    assert a == b
    assert any(x != a for x in c)


@pytest.mark.parametrize("action", BANDAI_ACTIONS)
def test_every_action_and_style_has_captions(action):
    for style in BANDAI_STYLES:
        caps = cap.captions_for(action, style, cap.clip_rng(0, action + style))
        assert len(caps["original"]) == cap.N_ORIGINAL
        assert all(o.endswith(".") for o in caps["original"])
        assert len(caps["oral"]) == cap.N_ORIGINAL
        for group in caps["oral"]:
            assert len(group) >= 5 and len(set(group)) == len(group)


def test_oral_rewrites_keep_the_content_and_vary_the_form():
    rng = cap.clip_rng(0, "x")
    plan = cap.CaptionPlan("raises the left hand", "raise your left hand", "sadly, with the head down", "a sad person")
    orals = [o for _ in range(20) for o in cap.oral_texts(plan, rng)]
    assert all("left" in o and "your head down" in o for o in orals)
    assert any(o.endswith("?") for o in orals) and any(o.startswith("I want you to") or " I want you to" in o for o in orals)
    assert any(o.split(",")[0] in [f.rstrip(",") for f in cap.FILLERS] for o in orals)
    assert cap.original_text(plan) == "a sad person raises the left hand sadly, with the head down."


def test_mirrored_labels_swap_sides_in_captions():
    caps = cap.captions_for(mirror_text("wave-left-hand"), "normal", cap.clip_rng(0, "M2_wave-left-hand"))
    assert all("right" in c and "left" not in c for c in caps["original"])


def test_multistage_caption_says_then_in_both_styles():
    caps = cap.multistage_captions(("walk", "happy"), ("bow", "normal"), cap.clip_rng(0, "ms"))
    assert ", then " in caps["original"][0]
    assert all(", then " in o for o in caps["oral"][0])


def test_unknown_label_is_an_error():
    with pytest.raises(KeyError, match="moonwalk"):
        cap.captions_for("moonwalk", "normal", cap.clip_rng(0, "x"))


def test_tokens_field_is_humanml3d_shaped():
    assert cap.tokens("A person walks, then bows.") == "a/OTHER person/OTHER walks/OTHER then/OTHER bows/OTHER"


def test_fillers_never_name_a_side():
    assert not any(side in f for f in cap.FILLERS for side in ("left", "right"))
