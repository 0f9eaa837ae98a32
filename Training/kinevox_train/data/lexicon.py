"""Offline English lexicons for the phrasing generator: WordNet 3.0 (Debian `wordnet-base`) and the
MyThes thesaurus (Debian `mythes-en-us`), read straight from their Debian files (no NLTK).

Only what the generator needs: the synonyms and troponyms (more specific ways of doing) of a verb,
thesaurus synonyms of a word, and frequent nouns of a WordNet lexicographer file (noun.food, ...)
ranked by the sense-tagged corpus counts in `cntlist.rev`.
"""
from __future__ import annotations

import functools
import os
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path

WORDNET_DIR = Path(os.environ.get("KINEVOX_WORDNET_DIR", "/usr/share/wordnet"))
MYTHES_DAT = Path(os.environ.get("KINEVOX_MYTHES_DAT", "/usr/share/mythes/th_en_US_v2.dat"))
# WordNet lexicographer file numbers (lexnames(5WN)) used for chatter nouns.
LEXNAMES = {"noun.artifact": 6, "noun.animal": 5, "noun.food": 13, "noun.location": 15, "noun.object": 17,
            "noun.person": 18, "noun.plant": 20, "noun.time": 28, "noun.event": 11, "noun.act": 4,
            "noun.communication": 10, "noun.substance": 27, "noun.body": 8, "noun.feeling": 12}


class LexiconMissing(RuntimeError):
    """A lexicon file is not installed; the message names the Debian package."""


@dataclass(frozen=True)
class Synset:
    """One WordNet synset: offset, part of speech, lexicographer file number, lemmas, pointers, gloss."""

    offset: str
    pos: str
    lexfile: int
    lemmas: tuple[str, ...]
    pointers: tuple[tuple[str, str, str], ...]  # (symbol, target offset, target pos)
    gloss: str


def _require(path: Path, package: str) -> Path:
    if not path.exists():
        raise LexiconMissing(f"{path} not found; install the Debian package {package} (Makefile APT_PACKAGES)")
    return path


_POS_FILES = {"v": "verb", "n": "noun", "a": "adj", "r": "adv"}


def _lines(kind: str, pos: str):
    """Entry lines of WordNet's data.<pos> or index.<pos> file (the licence header lines start with two spaces)."""
    with open(_require(WORDNET_DIR / f"{kind}.{_POS_FILES[pos]}", "wordnet-base"), encoding="latin-1") as f:
        yield from (line for line in f if not line.startswith("  "))


@functools.lru_cache(maxsize=None)
def _data(pos: str) -> dict[str, Synset]:
    out = {}
    for line in _lines("data", pos):
        head, _, gloss = line.partition("|")
        fields = head.split()
        offset, lexfile, n_words = fields[0], int(fields[1]), int(fields[3], 16)
        lemmas = tuple(fields[4 + 2 * i].lower() for i in range(n_words))
        at = 4 + 2 * n_words
        n_ptr = int(fields[at])
        ptrs = tuple((fields[at + 1 + 4 * i], fields[at + 2 + 4 * i], fields[at + 3 + 4 * i]) for i in range(n_ptr))
        out[offset] = Synset(offset, pos, lexfile, lemmas, ptrs, gloss.strip())
    return out


@functools.lru_cache(maxsize=None)
def _index(pos: str) -> dict[str, tuple[str, ...]]:
    out = {}
    for line in _lines("index", pos):
        fields = line.split()
        out[fields[0]] = tuple(fields[-int(fields[2]):])
    return out


@functools.lru_cache(maxsize=None)
def tag_counts() -> dict[tuple[str, int, int], int]:
    """(lemma, synset type, lexicographer file) -> summed sense-tagged corpus count (cntlist.rev): how often
    the word was seen in that kind of meaning, a frequency proxy for everyday words."""
    counts: dict[tuple[str, int, int], int] = defaultdict(int)
    with open(_require(WORDNET_DIR / "cntlist.rev", "wordnet-base")) as f:
        for line in f:
            key, _, count = line.split()
            lemma, _, rest = key.partition("%")
            ss_type, lexfile = rest.split(":")[:2]
            counts[(lemma, int(ss_type), int(lexfile))] += int(count)
    return dict(counts)


def synsets(lemma: str, pos: str = "v") -> list[Synset]:
    """WordNet synsets of ``lemma`` (spaces as underscores are handled), most frequent sense first."""
    data = _data(pos)
    return [data[o] for o in _index(pos).get(lemma.replace(" ", "_").lower(), ())]


def wordnet_candidates(lemma: str, pos: str = "v", senses: int = 2) -> list[str]:
    """Synonyms and troponyms (pointer ``~``: "to stroll is one way to walk") of the first ``senses``
    senses of ``lemma``; multi-word lemmas with spaces. Sorted, without ``lemma`` itself."""
    data = _data(pos)
    out = set()
    for synset in synsets(lemma, pos)[:senses]:
        out.update(synset.lemmas)
        for symbol, target, target_pos in synset.pointers:
            if symbol == "~" and target_pos == pos:
                out.update(data[target].lemmas)
    return sorted({w.replace("_", " ") for w in out} - {lemma})


@functools.lru_cache(maxsize=None)
def _mythes() -> dict[str, list[tuple[str, tuple[str, ...]]]]:
    table: dict[str, list[tuple[str, tuple[str, ...]]]] = {}
    with open(_require(MYTHES_DAT, "mythes-en-us"), encoding="utf-8") as f:
        f.readline()
        for line in f:
            word, _, n = line.rstrip("\n").rpartition("|")
            senses = []
            for _ in range(int(n)):
                parts = f.readline().rstrip("\n").split("|")
                senses.append((parts[0].strip("()"), tuple(p for p in parts[1:] if "(" not in p)))
            table[word.lower()] = senses
    return table


def mythes_candidates(word: str, pos: str = "verb") -> list[str]:
    """MyThes synonyms of ``word`` in its ``pos`` senses (generic/related terms left out), sorted."""
    return sorted({s.lower() for p, syns in _mythes().get(word.lower(), []) if p == pos for s in syns} - {word})


@functools.lru_cache(maxsize=None)
def frequent_nouns(lexname: str, min_count: int = 3, limit: int = 400) -> list[str]:
    """Single-word, lower-case nouns of one lexicographer file, most corpus-frequent first."""
    counts, lexfile = tag_counts(), LEXNAMES[lexname]
    words = {w for s in _data("n").values() if s.lexfile == lexfile for w in s.lemmas
             if w.isalpha() and w.islower() and len(w) > 2}
    count = {w: counts.get((w, 1, lexfile), 0) for w in words}
    ranked = sorted((w for w in words if count[w] >= min_count), key=lambda w: (-count[w], w))
    return ranked[:limit]
