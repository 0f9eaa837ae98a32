"""The pure-Python generators behind Tests/Fixtures/Engine/prng.json against published reference outputs."""
from kinevox_train.fixtures.engine import categorical_reference, splitmix64, xoshiro256starstar


def test_splitmix64_matches_published_sequence():
    assert splitmix64(1234567, 5) == [6457827717110365317, 3203168211198807973, 9817491932198370423,
                                      4593380528125082431, 16408922859458223821]


def test_xoshiro256starstar_matches_published_sequence():
    assert xoshiro256starstar([1, 2, 3, 4], 6) == [11520, 0, 1509978240, 1215971899390074240,
                                                   1216172134540287360, 607988272756665600]


def test_categorical_reference_never_draws_zero_weight_and_covers_the_rest():
    draws = categorical_reference(7, [0.5, 0.0, 0.5], 200)
    assert 1 not in draws
    assert {0, 2} <= set(draws)
