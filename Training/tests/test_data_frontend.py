"""Reference speech front end (frontends/speech_embedding.py) against openwakeword 0.5.1 itself."""
import numpy as np
import pytest

from kinevox_train.frontends import speech_embedding as se


@pytest.fixture(scope="module")
def frontend():
    return se.SpeechEmbedding()


def test_matches_openwakeword_audio_features(frontend):
    from openwakeword.utils import AudioFeatures

    reference = AudioFeatures(inference_framework="onnx", ncpu=1)
    pcm = np.random.RandomState(3).randint(-8000, 8000, 16000 * 2).astype(np.int16)
    expected = reference._get_embeddings(pcm)
    got = frontend(pcm.astype(np.float32) / 32767.0)
    assert got.shape == expected.shape == (se.n_embeddings(pcm.size), 96)
    # float32 x * 32767 differs from the int16 value by < 1e-3 LSB; the embeddings stay within 1e-3.
    assert np.max(np.abs(got - expected)) < 1e-3


def test_frame_counts_follow_the_documented_formulas(frontend):
    for n in (se.MEL_FFT_SAMPLES, se.MIN_SAMPLES - 1, se.MIN_SAMPLES, 16000, 16000 * 3 + 77):
        audio = np.random.RandomState(n).uniform(-0.5, 0.5, n).astype(np.float32)
        assert frontend.melspectrogram(audio).shape == (se.n_mel_frames(n), 32)
        assert frontend(audio).shape == (se.n_embeddings(n), 96)
    assert se.n_mel_frames(se.MIN_SAMPLES - 1) == se.WINDOW_FRAMES - 1
    assert se.n_mel_frames(se.MIN_SAMPLES) == se.WINDOW_FRAMES


def test_short_utterance_is_zero_padded_to_one_window(frontend):
    audio = np.random.RandomState(1).uniform(-0.5, 0.5, 3000).astype(np.float32)
    padded = np.concatenate([audio, np.zeros(se.MIN_SAMPLES - audio.size, np.float32)])
    np.testing.assert_array_equal(frontend(audio), frontend(padded))
    assert frontend(audio).shape == (1, 96)
