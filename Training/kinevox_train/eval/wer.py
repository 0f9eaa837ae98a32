"""Word error rate of speech-recognition transcripts against the spoken text.

Words are the lower-cased runs of letters, digits and apostrophes (punctuation is not a word, so "child?" and
"child" match). Errors are the Levenshtein distance over words (substitutions + deletions + insertions).
"""
from __future__ import annotations

import re

WORD = re.compile(r"[a-z0-9']+")


def words(text: str) -> list[str]:
    """The lower-cased words of `text`, punctuation dropped."""
    return WORD.findall(text.lower())


def word_errors(reference: str, hypothesis: str) -> int:
    """Minimum number of word substitutions, deletions and insertions turning `reference` into `hypothesis`."""
    ref, hyp = words(reference), words(hypothesis)
    previous = list(range(len(hyp) + 1))
    for i, r in enumerate(ref, start=1):
        current = [i]
        for j, h in enumerate(hyp, start=1):
            current.append(min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + (r != h)))
        previous = current
    return previous[-1]


def word_error_rate(pairs: list[tuple[str, str]]) -> float:
    """Corpus WER of (reference, hypothesis) pairs: total word errors / total reference words."""
    errors = sum(word_errors(r, h) for r, h in pairs)
    total = sum(len(words(r)) for r, _ in pairs)
    if total == 0:
        raise ValueError("word_error_rate needs at least one reference word")
    return errors / total
