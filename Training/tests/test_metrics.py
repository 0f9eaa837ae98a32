"""Metric functions on hand-made embeddings with known answers."""
import numpy as np
import pytest

from kinevox_train.eval.metrics import (action_accuracy, diversity, euclidean_matrix, frechet_distance, mean_ci95,
                                        mm_dist, multimodality, r_precision)


def test_fid_zero_for_identical_and_mean_shift_for_shifted():
    rng = np.random.default_rng(0)
    a = rng.normal(size=(2000, 4))
    assert frechet_distance(a, a) == pytest.approx(0.0, abs=1e-6)
    # same covariance, mean shifted by 3 along one axis -> FID = 9
    assert frechet_distance(a, a + np.array([3.0, 0, 0, 0])) == pytest.approx(9.0, abs=1e-6)
    # isotropic Gaussians with std 1 and 2 in D dims: FID = D (1 + 4 - 2*2) = D (analytically)
    b = rng.normal(size=(200000, 4))
    assert frechet_distance(b, 2 * rng.normal(size=(200000, 4))) == pytest.approx(4.0, abs=0.1)


def test_r_precision_perfect_and_known_ranks():
    text = np.eye(32) * 10
    assert r_precision(text, text.copy()).tolist() == [1.0, 1.0, 1.0]
    # motion i lies nearer text i-1 than text i: every text's own motion is its second nearest
    motion = 0.6 * np.roll(text, -1, axis=0) + 0.4 * text
    top = r_precision(text, motion)
    assert top[0] == 0.0 and top[1] == 1.0 and top[2] == 1.0
    with pytest.raises(ValueError):
        r_precision(text[:10], text[:10])


def test_mm_dist_diversity_multimodality_known_values():
    text = np.zeros((4, 3))
    motion = np.array([[3.0, 4, 0]] * 4)
    assert mm_dist(text, motion) == pytest.approx(5.0)
    two_points = np.array([[0.0, 0.0], [0.0, 2.0]])
    d = diversity(two_points, pairs=1000, rng=np.random.default_rng(0))
    assert d == pytest.approx(1.0, abs=0.1)  # half the random pairs differ (distance 2)
    groups = np.stack([np.zeros((30, 2)), np.stack([np.zeros(2), np.ones(2) * 3] * 15)])
    mm = multimodality(groups, pairs=2000, rng=np.random.default_rng(0))
    assert mm == pytest.approx(0.5 * (0.0 + 0.5 * 3 * np.sqrt(2)), abs=0.1)
    assert euclidean_matrix(np.zeros((1, 2)), np.array([[3.0, 4.0]]))[0, 0] == pytest.approx(5.0)


def test_mean_ci95():
    mean, ci = mean_ci95([1.0, 3.0])
    assert mean == 2.0 and ci == pytest.approx(1.96 * 1.0 / np.sqrt(2))


def test_action_accuracy_overall_and_per_action():
    result = action_accuracy(["run", "run", "walk", "wave", "run"], ["run", "dash", "walk", "walk", "run"])
    assert result["overall"] == pytest.approx(3 / 5)
    assert result["per_action"] == {"run": (pytest.approx(2 / 3), 3), "walk": (1.0, 1), "wave": (0.0, 1)}
    with pytest.raises(ValueError):
        action_accuracy(["run"], ["run", "walk"])
