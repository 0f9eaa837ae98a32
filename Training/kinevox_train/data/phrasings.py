"""Dataset v2 phrasings: everyday spoken commands for every motion label, each stored with its labels.

Sources, all offline: hand-written verb phrases per action (below), rewrites by a small language model
(data/llm_rewrites.py, committed as phrasings/llm_raw.jsonl.gz), head-verb synonyms proposed by WordNet
and MyThes (data/lexicon.py) and kept only where a verdict table says the word names the motion the
clip really shows, sentence shapes (politeness, indirection, questions, fillers, false starts and
corrections, chatter around the command, two-step connectives), counts and distances, and manner
adverbs/similes/clauses mapped onto the dataset's style ids. Every candidate then goes through
data/phrasing_filter.py (sides, counts, verb, no first-person actor, MiniLM nearest caption, not in the
OOD test set); what is dropped is logged with the reason.

Side convention: "left"/"right" is the avatar's own side ("raise your left hand", "walk to your left").
The avatar faces the user, so "to my left" (the speaker's left) is the avatar's right. "Towards me" is
forward, "away from me" is backwards.

Run from Training/: ``python -m kinevox_train.data.phrasings --out DIR --seed 0`` (default DIR is
kinevox_train/data/phrasings, the committed copy). Writes DIR/phrasings.jsonl.gz (kept, with labels),
DIR/dropped.jsonl.gz (dropped, with reasons) and DIR/stats.json. Deterministic for a seed; the MiniLM
vectors persist in --minilm-store, so an interrupted run resumes where it stopped.
"""
from __future__ import annotations

import argparse
import gzip
import hashlib
import itertools
import json
import random
import re
from pathlib import Path

from .captions import clip_rng

ACTION_IDS = ("bow", "bye", "byebye", "call", "dance-short", "dash", "guide", "kick", "punch", "raise-up-both-hands",
              "raise-up-left-hand", "raise-up-right-hand", "respond", "run", "slash", "walk", "walk-back", "walk-left",
              "walk-right", "walk-turn-left", "walk-turn-right", "wave-both-hands", "wave-left-hand", "wave-right-hand")
DATASET1_STYLES = ("active", "angry", "childish", "chimpira", "feminine", "giant", "happy", "masculinity", "musical",
                   "normal", "not-confident", "old", "proud", "sad", "tired")
DATASET2_STYLES = ("active", "elderly", "exhausted", "feminine", "masculine", "normal", "youthful")
_DATASET2_ACTIONS = {"raise-up-both-hands", "raise-up-left-hand", "raise-up-right-hand", "run", "walk", "walk-turn-left",
                     "walk-turn-right", "wave-both-hands", "wave-left-hand", "wave-right-hand"}
_NORMAL_ONLY = {"call", "dance-short", "kick", "punch", "respond", "slash"}


def styles_of(action: str) -> tuple[str, ...]:
    """Style ids the motion data has for ``action`` (Bandai-Namco takes; see docs/dataset.md)."""
    if action in _NORMAL_ONLY:
        return ("normal",)
    if action in ("walk", "run"):
        return tuple(sorted(set(DATASET1_STYLES) | set(DATASET2_STYLES)))
    return DATASET2_STYLES if action in _DATASET2_ACTIONS else DATASET1_STYLES


def side_of(action: str) -> str | None:
    """The body side an action label carries: left, right, both (two hands) or None."""
    if action == "byebye" or action.endswith("both-hands"):
        return "both"
    return "left" if "left" in action else "right" if "right" in action else None


def expand(pattern: str) -> list[str]:
    """All strings of a pattern with alternations: "(walk|stroll) (ahead|forward)" -> 4 strings; "(|x)" is optional."""
    parts = re.split(r"(\([^()]*\))", pattern)
    options = [p[1:-1].split("|") if p.startswith("(") else [p] for p in parts]
    return [re.sub(r"\s+", " ", "".join(c)).strip() for c in itertools.product(*options)]


# Hand-written imperative verb phrases per action. {n} = a count word, {n_steps} = "{n} steps"/"{n} meters"
# (count phrases are filled in by the generator). {L}/{R} mark the avatar's side in sided actions; the
# mirrored action reuses the same phrases with the sides swapped. "my left" phrases are written for the
# avatar's right ("walk to my left" = walk-right).
_FORWARD = "(forward|ahead|straight ahead|forwards|towards me|over to me|up to me|this way|to the front|up front|toward the camera)"
_WALK_VERBS = "(walk|stroll|go|move|head|step|come|make your way|amble)"
VERB_PHRASES: dict[str, list[str]] = {
    "walk": [f"{_WALK_VERBS} {_FORWARD}", "(walk|go|step|move) {n_steps} (forward|ahead)", "take {n} steps (forward|ahead|towards me)",
             "take a (few|couple of) steps (forward|ahead)", "(walk|stroll|go) (forward|ahead) a (bit|little|little bit|few steps)",
             "(start|keep) walking (forward|ahead|towards me)", "go for a walk (forward|towards me)", "walk (on|along) (forward|ahead)",
             "(walk|go) forward (at a normal pace|at an easy pace|nice and steady|at walking speed)", "(come|walk) closer (to me|)",
             "walk straight (ahead|on|towards me)", "(walk|stroll|amble|step) toward me"],
    "run": ["(run|jog|trot|lope) (forward|ahead|straight ahead|towards me|over to me|this way|to the front)",
            "(go for|break into|start) a (jog|run|light jog|little jog)", "(run|jog) {n_steps} (forward|ahead)",
            "(start|keep|go) (running|jogging) (forward|ahead|towards me|)", "(jog|run) forward (at a steady pace|for a bit|a little)",
            "pick up the pace and (run|jog) (forward|ahead)", "(jog|run) on the spot and (then|) (move|go) forward", "do a (jog|run) (forward|towards me)"],
    "dash": ["(sprint|dash|race|bolt|charge|rush|zoom) (forward|ahead|towards me|straight ahead|to the front)",
             "(run|sprint) as fast as you (can|possibly can)", "(go|run) (at|at top|at full) speed (forward|ahead|towards me|)",
             "(break into|do|make) a (sprint|dash|mad dash|quick dash) (forward|ahead|)", "run (forward|ahead) (really|super|very) fast",
             "(sprint|dash) {n_steps} (forward|ahead)", "(sprint|dash|race) (forward|ahead) (at full speed|flat out|like the wind|full tilt)",
             "(sprint|race) to the front as (quick|fast) as you can"],
    "walk-back": ["(walk|step|move|go|back|head) (backward|backwards|back)", "back (up|away|off)", "(take|make) {n} steps (back|backward|backwards)",
                  "(walk|step|move|go) {n_steps} (back|backwards)", "(step|move|walk) (back|backwards) (away from me|from me|a bit|a little)",
                  "(walk|step|move) away from me (backwards|facing me|without turning around)", "(retreat|fall back|draw back|move back) (a few steps|a bit|backwards|)",
                  "(reverse|back up) (a few steps|a bit|slowly|)", "(walk|go) in reverse", "take a (few|couple of) steps back", "(give me|make) some room and step back"],
    "walk-left": ["(walk|step|move|go|head|shuffle|sidestep|strafe|drift|slide) (to|over to|toward|towards|off to) (your|the) {L}",
                  "(walk|step|move|go) {L}(|ward|wards)", "(walk|step|move|go) {n_steps} to (your|the) {L}",
                  "(walk|move|shuffle|step) sideways to (your|the) {L}", "(walk|head) diagonally (to|toward) (your|the) {L}",
                  "(walk|move|step|go) (over|) to my {R}", "(walk|move) (forward|ahead) and to (your|the) {L}",
                  "(take|make) {n} steps to (your|the) {L}", "(sidestep|strafe|shuffle) {L}", "(walk|step|move) to (your|the) {L} side"],
    "walk-turn-left": ["(walk|go) (forward|ahead|) and (turn|swing|veer|bear|curve) (to the|to your|) {L}",
                       "(hang|take|make) a {L} (turn|)", "(turn|swing|veer|bear|curve) (to the|to your|) {L} (as you walk|while walking|while you walk|as you go)",
                       "walk (forward|ahead|along) and (take|make|hang) a {L} (turn|)", "(walk|go) (around|round) (the corner|) to (the|your) {L}",
                       "walk in a curve to (the|your) {L}", "(start|keep) walking and (turn|veer) {L}", "make a {L}-hand turn (while walking|as you walk|)",
                       "walk and curve (around|round) to (the|your) {L}"],
    "bow": ["(bow|take a bow|do a bow|make a bow|give a bow|bow down|bow your head and body)", "(give|do|make) a (polite|deep|little|small|formal|quick|respectful|nice) bow",
            "bow (to me|to the audience|to the crowd|politely|deeply|respectfully|to everyone|to the camera)", "bend (forward|over|) at the waist",
            "(bend|lean) forward (from|at) the (waist|hips) (in a bow|politely|)", "bow {n} times", "(bow|bend) (forward|down) (like you're greeting someone|to say thank you|to say thanks)",
            "take a bow (for the audience|for the crowd|for everyone|)", "(show some|show your) respect (and|with a) bow"],
    "bye": ["wave (goodbye|bye|bye-bye|farewell|so long) (to me|at me|to everyone|)", "say (goodbye|bye|farewell|so long|see you) (with a wave|with a wave of your hand|with one hand)",
            "wave (goodbye|bye) (with one hand|with a hand)", "(give|do) a (goodbye|farewell|parting) wave (with one hand|)",
            "(wave|bid) (me|us|everyone) (farewell|goodbye) (with a wave|)", "wave (me|us) off", "wave goodbye {n} times",
            "wave (one hand|a hand) to say (goodbye|bye|farewell)", "(see|send) me off with a (wave|one-handed wave)",
            "wave (goodbye|bye|bye-bye|farewell) (before you go|as you leave|to the guests|to your friend|to the kids|at the door)",
            "say (bye|goodbye|bye-bye) (to me|to everyone|to the camera|to the audience) with a (wave|little wave|hand wave)",
            "(give|do) a (little|quick|friendly|big) (goodbye|bye-bye|farewell) wave"],
    "byebye": ["wave (goodbye|bye|bye-bye|farewell) with both (hands|arms)", "say (goodbye|bye bye|farewell) (waving|with) both (hands|arms)",
               "(use|take) both (hands|arms) (to wave|and wave) (goodbye|bye bye|farewell)", "(give|do) a (big|) two-handed (goodbye|farewell) wave",
               "wave both (hands|arms) (to say|and say) (goodbye|bye bye|farewell)", "(wave|bid) (me|us|everyone) farewell with both (hands|arms)",
               "wave both (your|) (hands|arms) (goodbye|bye bye) (to me|at me|)", "see me off waving both (hands|arms)"],
    "call": ["(beckon|call|wave|motion|signal|summon|gesture to) (me|someone|somebody|your friend|them) (over|to come over|to come closer|to come here|closer)",
             "(beckon|summon) (me|someone|somebody) (with your hand|with a wave|)", "(do|make|give) (the|a) come-here (gesture|sign|wave|motion)",
             "(call|wave) (me|someone|somebody) over (with your hand|with a wave|)", "gesture for (me|someone|somebody|your friend) to (come over|come closer|come here)",
             "(signal|motion) (to me|to someone|for someone) to (come|come here|come over|approach)", "(give|do) a come-closer (wave|gesture|sign)",
             "call (someone|somebody|me) (to you|over to you) with a wave"],
    "guide": ["(show|point out|point|lead|indicate) (me|us|them|) the way (with your hand|with your arm|with an open hand|)",
              "(point|gesture|direct me|show me) (that way|over there|the direction|where to go) (with your hand|with your arm|with an open hand|)",
              "(gesture|direct|usher|guide) (the guests|the visitors|people|me|them) (in|along|that way|to their seats) (with your hand|with your arm|)",
              "(do|make) a guiding gesture (with your arm|with your hand|)", "(indicate|show) the (direction|path|route|entrance) (with your hand|with an open hand|with a sweep of your arm)",
              "guide (me|us|the visitors) with (your arm|your hand|a sweep of your arm|an open hand)", "be a (tour guide|guide|usher) and (show the way|point the way)",
              "(lead the way|show the way) (like a tour guide|like an usher|like a host)"],
    "kick": ["(kick|boot|punt) (it|the ball|the air|forward|hard|high|the can)", "(do|throw|give|make) a (kick|front kick|big kick|quick kick|high kick)",
             "kick (forward|out) with (your|one) (foot|leg)", "(give|deliver) (it|the ball) a (kick|good kick|swift kick)", "kick {n} times",
             "kick (like a soccer player|like a football player|like a karate fighter)", "(kick|boot) the ball (in front of you|away|forward|hard)",
             "(lift your leg and|swing your leg and) kick (forward|)"],
    "punch": ["(punch|jab|hit|strike|box) (forward|the air|hard|straight ahead|it|the bag)", "(throw|do|give|land) a (punch|jab|quick punch|straight punch|hook|few punches|couple of punches)",
              "(throw|do) some (punches|jabs)", "(punch|jab) {n} times", "(hit|strike) (it|the target|forward) with your (fist|fists)",
              "(punch|jab|box) like a (boxer|fighter|prizefighter)", "(throw|fire off) (a few|some|a couple of) (quick|fast|) (jabs|punches)",
              "(make a fist and|ball up your fist and) (punch|hit|strike)"],
    "respond": ["raise (your|a) hand to (answer|respond|reply|speak|say something)", "put (your|a) hand up (to answer|to respond|like you know the answer|like in class)",
                "(answer|respond|reply) (by raising|with|by putting up) (your|a) hand", "raise (your|a) hand like a (student|pupil|kid in class)",
                "(volunteer|say present|say here) (by raising|with) (your|a) hand", "(show|signal) (that you're here|that you heard me|you know the answer) with (your|a) raised hand",
                "(give|do) an (answering|I know the answer) hand raise", "(put|stick) (your|a) hand up (to volunteer|to be called on|if you know)",
                "(raise|lift|put up|stick up) (your|a|one) hand (to answer|if you know the answer|to say yes|to reply|to ask a question|like in school|to be picked)",
                "(answer|reply to|respond to) (the question|me|the teacher|the quiz) (by raising|with) (your|a) hand"],
    "slash": ["(slash|swing|strike|cut|slice|chop|hack) with (your|a|the) (sword|blade|katana|saber|sabre)", "(swing|raise) (your|a|the) (sword|blade|katana) (down|overhead|over your head|and slash)",
              "(slash|cut|slice|chop) (the air|downward|down|forward|at the enemy|at the monster) with (your|a) (sword|blade|katana)",
              "(do|make|perform) a (sword|overhead sword|sword slash|katana) (strike|slash|swing|cut)", "(attack|strike) with (your|a) sword",
              "slash (like a samurai|like a knight|like a swordsman)", "(bring|swing) (the|your) sword down (hard|on the enemy|)", "slash {n} times with (your|a) sword"],
    "dance-short": ["(dance|boogie|groove|bop) (a bit|a little|for a moment|for a second|for me|now|)", "(do|show me|give us) a (short|quick|little|fun|happy) dance",
                    "(show|give) (me|us) (some|your) (dance moves|moves)", "bust a move", "(dance|boogie) (to the music|like nobody's watching|on the spot)",
                    "(do|perform) a (short|little|brief) dance (routine|number|)", "(shake it|hit the dance floor) (and dance|for a moment|)",
                    "(dance|move) to the (beat|rhythm|music) for a (moment|bit)", "trip the light fantastic"],
    "raise-up-both-hands": ["(raise|lift|put|stick|hold|throw|reach) (both|both your|both of your) (hands|arms) (up|up high|in the air|above your head|over your head|up to the sky|)",
                            "(hands|arms) up", "(put|stick|throw|hold) your (hands|arms) (up|in the air|above your head|over your head)",
                            "(reach|stretch) (for the sky|up high|up to the ceiling) with both (hands|arms)", "reach for the sky",
                            "(raise|lift) (up|) (both|both your) (hands|arms) (like you just won|like you're cheering|to the ceiling|)",
                            "both (hands|arms) (up|in the air|up high)", "(raise|lift) your (hands|arms) up (together|at the same time)"],
    "raise-up-left-hand": ["(raise|lift|put|stick|hold|reach) your {L} (hand|arm) (up|up high|in the air|above your head|over your head|straight up|)",
                           "(raise|lift) (the|your) {L} (hand|arm)", "put up your {L} (hand|arm)", "{L} (hand|arm) up", "{L} (hand|arm) in the air",
                           "reach up (high|) with your {L} (hand|arm)", "(raise|lift) the hand on my {R} (side|)", "(hold|put) your {L} (hand|arm) (straight up|up above your head)",
                           "(stretch|reach) your {L} (hand|arm) (up|up to the sky|up toward the ceiling)"],
    "wave-both-hands": ["wave (both|both your|both of your) (hands|arms) (at me|hello|in the air|over your head|around|)", "wave (hello|hi|at me|to me) with both (hands|arms)",
                        "(give|do) a (big|) two-handed wave (hello|at me|)", "(use|take) both (hands|arms) (and|to) wave (at me|hello|)",
                        "wave (with|using) both (hands|arms) (at me|over your head|in the air|)", "(say hi|say hello|greet me) (with|waving) both (hands|arms)",
                        "both (hands|arms) (up and|) wave", "wave both (hands|arms) (like you're at a concert|like you're flagging a taxi|like you're greeting a friend)"],
    "wave-left-hand": ["wave (with|using) your {L} (hand|arm) (at me|hello|to me|)", "wave your {L} (hand|arm) (at me|hello|to me|in the air|)",
                       "(say hi|say hello|greet me|greet everyone) (with|using) your {L} (hand|arm)", "(give|do) a (little|quick|friendly|) wave with (your|the) {L} (hand|arm)",
                       "{L} (hand|arm), wave (it|)", "wave the hand on my {R} (side|)", "(use|take) your {L} (hand|arm) (and|to) wave (hello|at me|)",
                       "wave hello (with|using) the {L} (hand|arm)",
                       "wave (at|to) (me|everyone|the camera|the crowd|your friends) (with|using) your {L} (hand|arm)",
                       "(lift|raise|hold up) your {L} hand and wave (it|hello|at me|)",
                       "give (me|us|everyone) a (wave|little wave|friendly wave|big wave) with your {L} (hand|arm)"],
}
# Mirrored actions reuse the other side's phrases.
_MIRROR = {"walk-right": "walk-left", "walk-turn-right": "walk-turn-left", "raise-up-right-hand": "raise-up-left-hand",
           "wave-right-hand": "wave-left-hand"}

# Head-verb synonyms proposed by WordNet (synonyms + troponyms of the first senses) and MyThes, with the
# verdict after checking each against what the clip shows. Only ACCEPTED words enter the phrasings.
LEXICON_HEADS: dict[str, tuple[str, ...]] = {"walk": ("walk", "stroll"), "run": ("run", "jog"), "dash": ("dash",),
                                             "walk-back": ("retreat",), "bow": ("bow",), "kick": ("kick",), "punch": ("hit",),
                                             "slash": ("slash",), "dance-short": ("dance",), "guide": ("guide", "point"), "call": ("beckon",)}
ACCEPTED: dict[str, tuple[str, ...]] = {
    "walk": ("amble", "march", "mosey", "pace", "promenade", "saunter", "tread"),
    "run": ("jog", "lope", "trot"),
    "dash": ("dart", "scoot", "shoot"),
    "walk-back": ("back off", "back up", "back away", "draw back", "fall back", "move back", "pull back"),
    "bow": ("bow down", "bend"),
    "kick": ("punt", "dropkick"),
    "punch": ("strike", "knock", "sock"),
    "slash": ("cut down",),
    "dance-short": ("boogie", "bop", "jive", "trip the light fantastic"),
    "guide": ("direct", "indicate", "lead", "point", "show", "usher"),
    "call": ("wave",),
}
# Why the rest are rejected, by example: run -> flee/escape/scurry (running away, not jogging forward),
# walk -> limp/hobble/lurch/stagger (gaits the clips do not show), bow -> submit/defer (not a gesture),
# kick -> complain (sense), hit -> bump/collide/murder, slash -> whip/flog, dance -> polka/rumba/... (named
# dances the single dance clip is not), guide -> steer/pilot/park (vehicles). Listed per word in
# stats.json ("lexicon").

# Manner concepts -> (adverbs/similes/clauses); style ids per concept in dataset 1 and dataset 2.
MANNERS: dict[str, list[str]] = {
    "active": ["energetically", "full of energy", "with lots of pep", "like you just had a big coffee", "with a spring in your step",
               "vigorously", "with gusto", "enthusiastically", "bursting with energy", "in a lively way", "like you're pumped up"],
    "angry": ["angrily", "like you're furious", "as if you're really mad", "in a huff", "like someone who's fuming",
              "with stiff angry moves", "like you're about to lose your temper", "looking annoyed", "furiously"],
    "childish": ["like a little kid", "childishly", "like a toddler", "like a playful child", "the way a small child would",
                 "like a kid on a playground", "in a childish way", "like a hyper little kid"],
    "chimpira": ["like a thug", "like a gangster", "with a swagger", "like a street punk", "like a hoodlum", "like a tough street kid",
                 "like a delinquent", "with a cocky swagger", "like you own the street"],
    "old-age": ["like an old man", "like an elderly person", "the way my grandpa does it", "slowly, like a grandma", "stooped over like an old lady",
                "like a frail old person", "like someone very old", "like an old granny", "hunched over like an old man", "like a senior citizen"],
    "tired": ["as if you're exhausted", "like you're worn out", "wearily", "like you haven't slept", "dead tired", "completely drained",
              "like you just ran a marathon", "like you're running on empty", "sluggishly, all worn out", "like you're totally beat"],
    "feminine": ["in a feminine way", "gracefully, like a lady", "elegantly", "like a ballerina", "daintily", "in a girly way",
                 "like an elegant lady", "with feminine grace"],
    "giant": ["like a giant", "like a huge heavy monster", "with big heavy stomps", "like a lumbering ogre", "like a massive giant",
              "heavily, like a troll", "like something huge and heavy"],
    "happy": ["happily", "cheerfully", "like you just got great news", "with a big smile", "joyfully", "in a happy mood",
              "like the happiest person alive", "gleefully"],
    "manly": ["in a manly way", "like a tough guy", "like a macho man", "like a bodybuilder", "in a masculine way", "like a real tough man",
              "like a big strong guy"],
    "musical": ["like in a musical", "theatrically", "like a broadway star", "with a big theatrical flair", "like you're on stage in a show",
                "dramatically, like a stage performer"],
    "normal": ["normally", "the usual way", "casually", "in a relaxed way", "nothing fancy", "just naturally"],
    "shy": ["shyly", "timidly", "nervously", "like you're not sure of yourself", "hesitantly", "without much confidence", "a bit awkwardly and shy"],
    "proud": ["proudly", "with your chest out", "like a proud champion", "with your head held high", "confidently and proud", "like you're very proud of yourself"],
    "sad": ["sadly", "like you're heartbroken", "gloomily", "looking down and sad", "like you just heard bad news", "miserably", "with a sad face"],
    "youthful": ["like a teenager", "youthfully", "like a young kid full of life", "with youthful bounce", "like a young athlete", "in a young, springy way"],
}
CONCEPT_STYLE = {"dataset1": {"active": "active", "angry": "angry", "childish": "childish", "chimpira": "chimpira", "old-age": "old",
                              "tired": "tired", "feminine": "feminine", "giant": "giant", "happy": "happy", "manly": "masculinity",
                              "musical": "musical", "normal": "normal", "shy": "not-confident", "proud": "proud", "sad": "sad"},
                 "dataset2": {"active": "active", "old-age": "elderly", "tired": "exhausted", "feminine": "feminine", "manly": "masculine",
                              "normal": "normal", "youthful": "youthful"}}


def style_concepts(action: str) -> dict[str, str]:
    """style id -> manner concept for the styles the data has for ``action`` (walk/run: dataset-2 ids where both exist)."""
    out: dict[str, str] = {}
    tables = (CONCEPT_STYLE["dataset2"], CONCEPT_STYLE["dataset1"]) if action in _DATASET2_ACTIONS else (CONCEPT_STYLE["dataset1"],)
    available = set(styles_of(action))
    for table in tables:
        for concept, style in table.items():
            if style in available and concept not in out.values() and style not in out:
                out[style] = concept
    return out


# Sentence shapes around one verb phrase: {v} base form, {ing} gerund.
SHAPES: list[str] = [
    "{v}", "please {v}", "{v}, please", "could you {v}?", "can you {v} for me?", "would you mind {ing}?", "I'd love to see you {v}",
    "let's have you {v}", "go ahead and {v}", "how about you {v}?", "why don't you {v}?", "try {ing}", "okay, now {v}", "{v} now",
    "your turn, {v}", "next, {v}", "I want to see you {v}", "show me you can {v}", "do me a favour and {v}",
    "if you could {v}, that would be great", "would you be so kind as to {v}?", "time for you to {v}", "alright, {v} for me",
    "{v}, would you?", "be a dear and {v}", "how about {ing}?", "you should {v}", "you can {v} now", "let me see you {v}",
    "{v}, okay?", "{v} when you're ready", "when you're ready, {v}", "mind {ing}?", "{v}! come on!", "I need you to {v}",
    "it would be nice if you could {v}", "quick, {v}", "could you please {v}?", "would you {v} for us?", "how about {ing} for me?",
    "if you don't mind, {v}", "okay, so, {v}", "just {v}", "for the next shot, {v}", "on my count, {v}",
]
FILLERS = ["um,", "uh,", "okay,", "so,", "hey,", "listen,", "well,", "okay so,", "hmm,", "alright,", "oh,", "er,", "like,",
           "okay, uh,", "yeah,", "hey there,", "oh hey,", "so, um,"]
NAMES = ["Sam", "Alex", "Max", "Robin", "Charlie", "Jamie", "Taylor", "Jordan", "Casey", "Riley", "Morgan", "Avery", "Quinn",
         "Kai", "buddy", "pal", "friend", "little guy", "mister robot", "avatar", "kiddo", "champ", "dude", "my friend", "partner"]
# Chatter around a command; {noun:<lexname>} draws an everyday WordNet noun. Never numbers, sides or action verbs.
CHATTER_BEFORE = ["hey! over here!", "hey {name}!", "okay {name},", "can you hear me? good.", "alright, is the camera on? okay.",
                  "sorry, my {noun:noun.artifact} was in the way. anyway,", "hold on, let me put down my {noun:noun.food}. okay,",
                  "don't mind the {noun:noun.animal}, it's harmless.", "ignore the {noun:noun.artifact} for a second.",
                  "the {noun:noun.person} over there wants to see this.", "we're almost done with the {noun:noun.act}, so",
                  "while the {noun:noun.food} is in the oven,", "sorry about the noise from the {noun:noun.artifact}.",
                  "look at me, not at the {noun:noun.object}.", "oh wow, look at that {noun:noun.plant}! anyway,",
                  "forget about the {noun:noun.artifact} for now.", "my {noun:noun.person} is watching, so", "okay, attention please.",
                  "ready? here it comes.", "good morning!", "hello again!", "this is for the {noun:noun.act} video.",
                  "before the {noun:noun.event} starts,", "while we wait for the {noun:noun.food},", "so, about the {noun:noun.communication},",
                  "the {noun:noun.artifact} is next to the {noun:noun.artifact}, never mind.", "we're shooting this at the {noun:noun.location} later.",
                  "the {noun:noun.person} and the {noun:noun.person} are here.", "it smells like {noun:noun.food} in here. okay,",
                  "is that a {noun:noun.animal} on the {noun:noun.object}? whatever.", "what a long {noun:noun.time} it has been.",
                  "I was reading about the {noun:noun.communication} earlier. anyway,", "the {noun:noun.substance} is all over the floor, careful.",
                  "nice {noun:noun.artifact}!", "my {noun:noun.body} hurts today, but you go.", "the {noun:noun.plant} looks great. now,"]
CHATTER_AFTER = ["thanks!", "thank you.", "nice.", "great job.", "that'd be awesome.", "for the {noun:noun.person} back there.",
                 "while I check the {noun:noun.artifact}.", "and I'll get the {noun:noun.food}.", "the {noun:noun.animal} will love it.",
                 "before the {noun:noun.event}.", "it's for the {noun:noun.communication}.", "you're doing great.", "cool, cool.",
                 "that's all for now.", "we're recording.", "and watch out for the {noun:noun.artifact}.",
                 "the {noun:noun.person} says hi.", "after that we'll talk about the {noun:noun.communication}.",
                 "there's {noun:noun.food} in the kitchen after this.", "mind the {noun:noun.substance} on the floor."]
CHATTER_STOP = {"left", "right", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine", "ten", "first", "second",
                "hand", "arm", "leg", "foot", "head", "back", "front", "wave", "bow", "walk", "run", "dash", "kick", "punch", "jab",
                "sprint", "dance", "sword", "step", "turn", "guide", "call", "gun", "rifle", "bomb", "jew", "whisky", "whiskey",
                "liquor", "beer", "wine", "champagne", "anode", "cathode", "dope", "drug", "corpse", "cadaver", "both", "stop",
                "slash", "boxer", "bull", "ass", "bitch", "shit", "cock", "queen", "god", "death", "murder", "war", "battle",
                "killing", "suicide", "execution", "rape", "torture"}
CORRECTION_MARKERS = ["no, sorry,", "no wait,", "sorry, I mean", "actually no,", "no no,", "scratch that,", "I mean,", "oops, no,"]
# Two-step connectives: {a} first action, {b} second, {a_ing} gerund of the first. Order in the text may differ
# from the order of execution ("before you {b}, {a}"); labels always hold the execution order.
CONNECTIVES = ["{a}, then {b}", "first {a}, after that {b}", "{a} and then {b}", "{a}. now {b}", "{a}, and after that {b}",
               "{a}, and when you're done, {b}", "start by {a_ing}, then {b}", "before you {b}, {a}", "{b}, but {a} first",
               "{a}; next, {b}", "{a}, then straight after, {b}", "after {a_ing}, {b}", "{a}, followed by {b_ing}",
               "{a}. once that's done, {b}", "{a} first, then {b}", "{a}, and finally {b}", "{a}. after that, {b}"]
NUMBER_WORDS = {1: "one", 2: "two", 3: "three", 4: "four", 5: "five", 6: "six", 7: "seven", 8: "eight", 9: "nine", 10: "ten",
                12: "twelve", 15: "fifteen", 20: "twenty"}
_DOUBLE_FINAL = {"run", "jog", "step", "trot", "bop", "chop", "put", "hit", "sit", "get", "drop", "cut"}


def gerund(phrase: str) -> str:
    """``phrase`` with its first word in -ing form ("back up" -> "backing up", "run forward" -> "running forward")."""
    for manners in MANNERS.values():
        for manner in manners:
            if phrase.startswith(manner + ", "):
                return f"{manner}, {gerund(phrase[len(manner) + 2:])}"
    word, _, rest = phrase.partition(" ")
    if word in _DOUBLE_FINAL or word.endswith("step"):
        ing = word + word[-1] + "ing"
    elif word.endswith("e") and not word.endswith(("ee", "ye", "oe")):
        ing = word[:-1] + "ing"
    else:
        ing = word + "ing"
    return f"{ing} {rest}".strip()


def verb_phrases(action: str) -> list[str]:
    """All expanded verb phrases of ``action`` with {L}/{R} filled in ({n}, {n_steps} still open)."""
    source = _MIRROR.get(action, action)
    side = side_of(action)
    other = {"left": "right", "right": "left"}.get(side or "", "")
    out = []
    for pattern in VERB_PHRASES[source]:
        for vp in expand(pattern):
            if side in ("left", "right"):
                vp = vp.replace("{L}", side).replace("{R}", other)
            out.append(vp)
    return sorted(set(out))


def lexicon_phrases(action: str, log: dict) -> list[tuple[str, str]]:
    """(verb phrase, source) made by putting ACCEPTED WordNet/MyThes synonyms in place of the action's head verb."""
    from .lexicon import LexiconMissing, mythes_candidates, wordnet_candidates

    out: list[tuple[str, str]] = []
    heads = LEXICON_HEADS.get(_MIRROR.get(action, action), ())
    base = verb_phrases(action)
    for head in heads:
        try:
            proposed = {w: "wordnet" for w in wordnet_candidates(head)}
            proposed.update({w: proposed.get(w, "mythes") for w in mythes_candidates(head)})
        except LexiconMissing as err:
            log.setdefault("missing", str(err))
            return out
        accepted = [w for w in sorted(proposed) if w in ACCEPTED.get(_MIRROR.get(action, action), ())]
        log[f"{action}:{head}"] = {"proposed": len(proposed), "accepted": accepted,
                                   "rejected": sorted(set(proposed) - set(accepted))}
        for vp in base:
            if vp.split(" ")[0] == head:
                for w in accepted:
                    out.append((w + vp[len(head):], proposed[w]))
    return out


def _fill_counts(vp: str, rng: random.Random) -> tuple[str, int | None]:
    count = None
    if "{n_steps}" in vp or "{n}" in vp:
        count = rng.choice([2, 3, 4, 5, 6, 10] if "{n_steps}" in vp else [2, 3, 4, 5])
        unit = rng.choice(["steps", "steps", "meters", "metres", "paces", "yards"])
        vp = vp.replace("{n_steps}", f"{NUMBER_WORDS[count]} {unit}").replace("{n}", NUMBER_WORDS[count])
    elif re.search(r"\ba couple of\b", vp):
        count = 2
    return vp, count


def _noun(lexname: str, rng: random.Random) -> str:
    from .lexicon import LexiconMissing, frequent_nouns

    try:
        nouns = [w for w in frequent_nouns(lexname, min_count=2, limit=700) if w not in CHATTER_STOP]
    except LexiconMissing:
        nouns = []
    return rng.choice(nouns) if nouns else "thing"


def _chatter(template: str, rng: random.Random) -> str:
    text = template.replace("{name}", rng.choice(NAMES))
    return re.sub(r"\{noun:([a-z.]+)\}", lambda m: _noun(m.group(1), rng), text)


def shape(vp: str, rng: random.Random, shape_id: int | None = None) -> tuple[str, int]:
    """One sentence around a verb phrase; returns (text, shape index)."""
    i = rng.randrange(len(SHAPES)) if shape_id is None else shape_id
    return SHAPES[i].format(v=vp, ing=gerund(vp)), i


def with_manner(vp: str, manner: str, rng: random.Random, leading_ok: bool = False) -> str:
    """The verb phrase with a manner phrase after it, or (for short ones, where the sentence starts with the
    verb phrase) before it."""
    if leading_ok and rng.random() < 0.4 and len(manner.split()) <= 3:
        return f"{manner}, {vp}"
    return f"{vp} {manner}"


def dress(text: str, rng: random.Random, side: str | None) -> tuple[str, list[str]]:
    """Optional filler, name, chatter before/after; returns (text, tags)."""
    tags = []
    r = rng.random()
    if r < 0.16:
        filler = rng.choice(FILLERS)
        text, tags = f"{filler} {text}", ["filler"]
    elif r < 0.34:
        text, tags = f"{_chatter(rng.choice(CHATTER_BEFORE), rng)} {text}", ["chatter"]
    elif r < 0.44:
        stop = "" if text.endswith(("?", "!", ".")) else "."
        text, tags = f"{text}{stop} {_chatter(rng.choice(CHATTER_AFTER), rng)}", ["chatter"]
    elif r < 0.48:
        word = text.split(" ")[0].strip(",.!?")
        if len(word) > 2:
            text, tags = f"{word[:2]}- {text}", ["false-start"]
    return text, tags


def _record(text: str, actions: list[str], style: str | None, count: int | None, shape_name: str, source: str,
            parts: list[str], tags: list[str]) -> dict:
    sides = {side_of(a) for a in actions} - {None}
    return {"text": re.sub(r"\s+", " ", text).strip(), "kind": "two-step" if len(actions) > 1 else "styled" if style else "single",
            "actions": actions, "style": style, "side": sides.pop() if len(sides) == 1 else None, "count": count,
            "shape": shape_name, "source": source, "parts": parts, "tags": tags}


# Sideways walking loses most candidates to the MiniLM rule (its vectors sit near turning), so it gets more.
PER_ACTION = {"walk-left": 1500, "walk-right": 1500}


def single_candidates(action: str, seed: int, per_action: int | None = None) -> list[dict]:
    """Unstyled candidates for one action: every verb phrase (hand + lexicon) in shuffled shapes, plus corrections."""
    rng = clip_rng(seed, f"single:{action}")
    per_action = per_action or PER_ACTION.get(action, 560)
    log: dict = {}
    phrases = [(vp, "template") for vp in verb_phrases(action)] + lexicon_phrases(action, log)
    rng.shuffle(phrases)
    out = []
    for k in range(per_action):
        vp, source = phrases[k % len(phrases)]
        vp, count = _fill_counts(vp, rng)
        text, i = shape(vp, rng)
        tags: list[str] = []
        if rng.random() < 0.07:
            wrong = rng.choice([a for a in ACTION_IDS if a != action and side_of(a) in (None, side_of(action))])
            wrong_vp, _ = _fill_counts(rng.choice(verb_phrases(wrong)), rng)
            if "{" not in wrong_vp:
                text, tags = f"{wrong_vp}, {rng.choice(CORRECTION_MARKERS)} {text}", ["correction"]
        if not tags:
            text, tags = dress(text, rng, side_of(action))
        out.append(_record(text, [action], None, count, f"s{i:02d}", source, [vp], tags))
    return out


def styled_candidates(action: str, seed: int, per_style: int = 30) -> list[dict]:
    """Candidates with a manner phrase for every style the data has for ``action`` (normal is unstyled)."""
    out = []
    for style, concept in sorted(style_concepts(action).items()):
        if style == "normal":
            continue
        rng = clip_rng(seed, f"styled:{action}:{style}")
        phrases = verb_phrases(action)
        for _ in range(per_style):
            vp, count = _fill_counts(rng.choice(phrases), rng)
            i = rng.randrange(len(SHAPES))
            vp = with_manner(vp, rng.choice(MANNERS[concept]), rng, leading_ok=SHAPES[i].startswith("{v}"))
            text, i = shape(vp, rng, i)
            text, tags = dress(text, rng, side_of(action))
            out.append(_record(text, [action], style, count, f"s{i:02d}", "template", [vp], tags))
    return out


def two_step_candidates(seed: int, per_pair: int = 3) -> list[dict]:
    """Two-step candidates for every ordered pair of different actions."""
    out = []
    for a, b in itertools.permutations(ACTION_IDS, 2):
        rng = clip_rng(seed, f"two-step:{a}:{b}")
        for _ in range(per_pair):
            va, ca = _fill_counts(rng.choice(verb_phrases(a)), rng)
            vb, cb = _fill_counts(rng.choice(verb_phrases(b)), rng)
            j = rng.randrange(len(CONNECTIVES))
            text = CONNECTIVES[j].format(a=va, b=vb, a_ing=gerund(va), b_ing=gerund(vb))
            counts = [c for c in (ca, cb) if c is not None]
            text, tags = dress(text, rng, side_of(a) or side_of(b))
            out.append(_record(text, [a, b], None, counts[0] if len(counts) == 1 else None, f"c{j:02d}", "template",
                               [va, vb], tags + (["two-counts"] if len(counts) == 2 else [])))
    return out


def generate(seed: int = 0, llm_raw: Path | None = None) -> list[dict]:
    """Every candidate (before the filter), in a fixed order, distinct texts only (first kept): templates, then
    the language-model rewrites in ``llm_raw`` (default: the committed file, data/llm_rewrites.py)."""
    from . import llm_rewrites

    candidates = []
    for action in ACTION_IDS:
        candidates += single_candidates(action, seed) + styled_candidates(action, seed)
    candidates += two_step_candidates(seed)
    candidates += llm_rewrites.candidates(llm_raw or llm_rewrites.RAW_PATH)
    seen, out = set(), []
    for c in candidates:
        key = c["text"].lower()
        if key not in seen:
            seen.add(key)
            out.append(c)
    return out


def lexicon_log() -> dict:
    """Per action and head verb: what WordNet/MyThes proposed, which words were accepted, which rejected."""
    log: dict = {}
    for action in ACTION_IDS:
        lexicon_phrases(action, log)
    return log


def _write_gz(path: Path, rows: list[dict]) -> None:
    data = "".join(json.dumps(r, sort_keys=True) + "\n" for r in rows).encode()
    with open(path, "wb") as raw, gzip.GzipFile(fileobj=raw, mode="wb", mtime=0, filename="") as f:
        f.write(data)


def read_phrasings(path: Path) -> list[dict]:
    """Rows of a phrasings.jsonl.gz (or dropped.jsonl.gz) file."""
    with gzip.open(path, "rt") as f:
        return [json.loads(line) for line in f]


DEFAULT_OUT = Path(__file__).resolve().parent / "phrasings"


def main(argv: list[str] | None = None) -> None:
    """Command line: generate, filter, write the phrasings and print the statistics."""
    from .phrasing_filter import filter_phrasings, stats_of

    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--minilm-store", type=Path, default=Path("cache/minilm/phrasings.npz"),
                        help="MiniLM vector cache (resumable)")
    args = parser.parse_args(argv)
    candidates = generate(args.seed)
    print(f"{len(candidates)} candidates")
    kept, dropped = filter_phrasings(candidates, args.minilm_store)
    args.out.mkdir(parents=True, exist_ok=True)
    _write_gz(args.out / "phrasings.jsonl.gz", kept)
    _write_gz(args.out / "dropped.jsonl.gz", dropped)
    stats = stats_of(kept, dropped)
    stats["seed"] = args.seed
    stats["sha256_phrasings"] = hashlib.sha256((args.out / "phrasings.jsonl.gz").read_bytes()).hexdigest()
    stats["lexicon"] = lexicon_log()
    (args.out / "stats.json").write_text(json.dumps(stats, indent=1, sort_keys=True) + "\n")
    for key in ("candidates", "kept", "keep_rate", "vocabulary", "shapes", "min_distinct_single_per_action",
                "ood_exact_overlap", "ood_4gram_overlap"):
        print(f"{key}: {stats[key]}")
    print("dropped by reason:", json.dumps(stats["dropped_by_reason"]))
    print("kept per action (single, before style):", json.dumps(stats["single_per_action"]))


if __name__ == "__main__":
    main()
