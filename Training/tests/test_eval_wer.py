"""Word error rate (kinevox_train.eval.wer) on hand-counted examples."""
import pytest

from kinevox_train.eval.wer import word_error_rate, word_errors, words


def test_words_are_lower_cased_without_punctuation():
    assert words("Wave your RIGHT hand, slowly? Don't!") == ["wave", "your", "right", "hand", "slowly", "don't"]


@pytest.mark.parametrize("reference, hypothesis, errors", [
    ("walk forward", "walk forward", 0),
    ("walk forward", "Walk, forward.", 0),
    ("wave your right hand", "wave your hand", 1),              # one deletion
    ("wave your right hand", "wave your right hand now", 1),    # one insertion
    ("bow like a child", "about like a child", 1),              # one substitution
    ("a b c d", "a x c", 2),                                    # substitution + deletion
    ("turn left", "", 2),                                       # everything deleted
    ("", "hello there", 2),                                     # everything inserted
    ("one two three", "three two one", 2),                      # reversed: two substitutions
])
def test_word_errors(reference, hypothesis, errors):
    assert word_errors(reference, hypothesis) == errors


def test_corpus_rate_weights_by_reference_words():
    # 1 error in 4 words + 2 errors in 2 words = 3 / 6
    assert word_error_rate([("wave your right hand", "wave your hand"), ("turn left", "")]) == pytest.approx(0.5)


def test_rate_needs_reference_words():
    with pytest.raises(ValueError):
        word_error_rate([("", "anything")])
