"""Utterance- and frame-level scores for VAD output against truth spans (seconds)."""
from __future__ import annotations

import dataclasses

import numpy as np

BOUNDARY_TOLERANCE_S = 0.2
FRAME_S = 0.01


@dataclasses.dataclass
class Score:
    """Counts summed over files; the rates are computed from the sums."""
    truth: int = 0
    predicted: int = 0
    matched: int = 0
    frame_tp: int = 0
    frame_fp: int = 0
    frame_fn: int = 0

    def add(self, other: "Score") -> None:
        for field in dataclasses.fields(self):
            setattr(self, field.name, getattr(self, field.name) + getattr(other, field.name))

    @property
    def precision(self) -> float:
        return self.matched / self.predicted if self.predicted else 0.0

    @property
    def recall(self) -> float:
        return self.matched / self.truth if self.truth else 0.0

    @property
    def utterance_f1(self) -> float:
        p, r = self.precision, self.recall
        return 2 * p * r / (p + r) if p + r else 0.0

    @property
    def frame_f1(self) -> float:
        denominator = 2 * self.frame_tp + self.frame_fp + self.frame_fn
        return 2 * self.frame_tp / denominator if denominator else 0.0


def frame_mask(spans, seconds: float) -> np.ndarray:
    mask = np.zeros(int(np.ceil(seconds / FRAME_S)), dtype=bool)
    for start, end in spans:
        mask[int(round(start / FRAME_S)): int(round(end / FRAME_S))] = True
    return mask


def score_file(truth, predicted, seconds: float) -> Score:
    """An utterance counts as found when one prediction has both boundaries within 200 ms of it
    (each prediction matches at most one truth utterance)."""
    used = set()
    matched = 0
    for t_start, t_end in truth:
        for i, (p_start, p_end) in enumerate(predicted):
            if i not in used and abs(p_start - t_start) <= BOUNDARY_TOLERANCE_S and abs(p_end - t_end) <= BOUNDARY_TOLERANCE_S:
                used.add(i)
                matched += 1
                break
    t, p = frame_mask(truth, seconds), frame_mask(predicted, seconds)
    return Score(truth=len(truth), predicted=len(predicted), matched=matched,
                 frame_tp=int(np.sum(t & p)), frame_fp=int(np.sum(~t & p)), frame_fn=int(np.sum(t & ~p)))


def merge_frames_to_spans(flags, frame_s: float, hangover_s: float, min_s: float):
    """Per-frame speech flags → spans: runs joined across gaps shorter than the hangover, then
    spans shorter than `min_s` dropped (the same rules Kinevox's segmenter applies)."""
    spans = []
    for i, speech in enumerate(flags):
        if not speech:
            continue
        start, end = i * frame_s, (i + 1) * frame_s
        if spans and start - spans[-1][1] < hangover_s:
            spans[-1] = (spans[-1][0], end)
        else:
            spans.append((start, end))
    return [(a, b) for a, b in spans if b - a >= min_s]
