"""Scoring rules of the VAD benchmark (kinevox_train.vadbench.scoring) on hand-made spans."""
import json
from pathlib import Path

import numpy as np

from kinevox_train.vadbench import corpus
from kinevox_train.vadbench.scoring import Score, merge_frames_to_spans, score_file


def test_boundaries_within_200_ms_match_once():
    truth = [(1.0, 2.0), (4.0, 5.0)]
    predicted = [(1.15, 1.85), (4.0, 5.25), (4.05, 4.95)]
    s = score_file(truth, predicted, seconds=6.0)
    assert (s.truth, s.predicted, s.matched) == (2, 3, 2)
    assert abs(s.precision - 2 / 3) < 1e-9 and s.recall == 1.0


def test_frame_f1_counts_10_ms_frames():
    s = score_file([(1.0, 2.0)], [(1.5, 2.5)], seconds=3.0)
    assert (s.frame_tp, s.frame_fp, s.frame_fn) == (50, 50, 50)
    assert abs(s.frame_f1 - 0.5) < 1e-9


def test_scores_add_up_over_files():
    total = Score()
    total.add(score_file([(1.0, 2.0)], [(1.0, 2.0)], 3.0))
    total.add(score_file([(1.0, 2.0)], [], 3.0))
    assert (total.truth, total.matched, total.predicted) == (2, 1, 1)
    assert abs(total.utterance_f1 - 2 * 1.0 * 0.5 / 1.5) < 1e-9


def test_frame_flags_merge_across_short_gaps_and_drop_short_runs():
    flags = [0] * 10 + [1] * 20 + [0] * 5 + [1] * 10 + [0] * 30 + [1] * 3 + [0] * 10
    spans = merge_frames_to_spans([bool(f) for f in flags], 0.03, hangover_s=0.4, min_s=0.3)
    assert len(spans) == 1
    assert np.allclose(spans[0], (0.3, 1.35))


def test_mix_sets_the_requested_snr():
    rng = np.random.default_rng(0)
    speech = np.zeros(16_000, dtype=np.float32)
    speech[4_000:8_000] = rng.standard_normal(4_000).astype(np.float32) * 0.1
    noise = corpus.pink_noise(16_000, rng)
    mixed = corpus.mix(speech, [(4_000, 8_000)], noise, snr_db=10)
    added = mixed - speech
    snr = 10 * np.log10(np.mean(speech[4_000:8_000] ** 2) / np.mean(added ** 2))
    assert abs(snr - 10) < 1e-3


def test_speech_span_trims_silence():
    audio = np.zeros(16_000, dtype=np.float32)
    audio[3_200:9_600] = 0.5
    assert corpus.speech_span(audio) == (3_200, 9_600)


def test_brown_noise_falls_6_db_per_octave_more_than_pink():
    rng = np.random.default_rng(1)
    def octave_drop(noise):
        spectrum = np.abs(np.fft.rfft(noise)) ** 2
        freqs = np.fft.rfftfreq(len(noise), 1 / corpus.RATE)
        band = lambda lo: spectrum[(freqs >= lo) & (freqs < 2 * lo)].mean()
        return 10 * np.log10(band(500) / band(1000))
    assert abs(octave_drop(corpus.brown_noise(64_000, rng)) - 6.0) < 1.0
    assert abs(octave_drop(corpus.pink_noise(64_000, rng)) - 3.0) < 1.0


def test_silero_v6_baseline_finds_the_fixture_commands():
    from scipy.io import wavfile
    from kinevox_train.vadbench.__main__ import SileroV6
    fixtures = Path(__file__).resolve().parents[2] / "Tests" / "Fixtures" / "Capture"
    _, pcm = wavfile.read(fixtures / "two_commands.wav")
    truth = json.loads((fixtures / "two_commands.json").read_text())["speech_s"]
    spans = SileroV6().spans(pcm)
    assert score_file(truth, spans, len(pcm) / corpus.RATE).matched == len(truth)
