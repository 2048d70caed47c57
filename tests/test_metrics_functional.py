"""The metric math against closed forms, scipy and brute-force numpy written out here."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.linalg
import torch

from condgan.errors import CondganError, MetricError
from condgan.metrics import functional as F


def gaussian(n: int, dims: int, seed: int, shift: float = 0.0, scale: float = 1.0) -> np.ndarray:
    return np.random.default_rng(seed).normal(shift, scale, size=(n, dims))


# ----------------------------------------------------------------------------- FID


def test_frechet_distance_matches_closed_form_for_diagonal_covariances():
    rng = np.random.default_rng(0)
    mu1, mu2 = rng.normal(size=6), rng.normal(size=6)
    s1, s2 = rng.uniform(0.1, 3.0, size=6), rng.uniform(0.1, 3.0, size=6)
    expected = np.sum((mu1 - mu2) ** 2) + np.sum(s1 + s2 - 2 * np.sqrt(s1 * s2))
    assert F.frechet_distance(mu1, np.diag(s1), mu2, np.diag(s2)) == pytest.approx(expected, rel=1e-10)


def scipy_fid(real: np.ndarray, fake: np.ndarray) -> float:
    mu1, mu2 = real.mean(0), fake.mean(0)
    s1, s2 = np.cov(real, rowvar=False), np.cov(fake, rowvar=False)
    covmean = scipy.linalg.sqrtm(s1 @ s2).real
    return float(np.sum((mu1 - mu2) ** 2) + np.trace(s1 + s2 - 2 * covmean))


def test_fid_from_features_matches_scipy_sqrtm():
    real = gaussian(500, 16, seed=1)
    fake = gaussian(400, 16, seed=2, shift=0.3) @ np.random.default_rng(3).normal(size=(16, 16)) * 0.5
    assert F.fid_from_features(real, fake) == pytest.approx(scipy_fid(real, fake), rel=1e-7)


def test_fid_accepts_torch_tensors_and_is_symmetric():
    real, fake = gaussian(300, 8, seed=4), gaussian(300, 8, seed=5, shift=1.0)
    forward = F.fid_from_features(torch.from_numpy(real).float(), torch.from_numpy(fake).float())
    assert forward == pytest.approx(F.fid_from_features(fake, real), rel=1e-5)
    assert forward > 5.0  # means differ by 1 in each of 8 dims


def test_fid_of_a_set_with_itself_is_zero_even_when_covariance_is_singular():
    features = gaussian(20, 64, seed=6)  # 20 samples in 64 dims: rank-deficient covariance
    # Rounding in the null space leaves ~1e-7 of the trace (64 here); scipy.linalg.sqrtm does no better.
    assert abs(F.fid_from_features(features, features)) < 1e-5


# ----------------------------------------------------------------------------- KID


def direct_kid(x: np.ndarray, y: np.ndarray) -> float:
    """Unbiased MMD^2 with k(a, b) = (a.b / d + 1)^3, written as explicit double sums."""
    m, d = x.shape

    def k(a, b):
        return (a @ b / d + 1.0) ** 3

    xx = sum(k(x[i], x[j]) for i in range(m) for j in range(m) if i != j) / (m * (m - 1))
    yy = sum(k(y[i], y[j]) for i in range(m) for j in range(m) if i != j) / (m * (m - 1))
    xy = sum(k(x[i], y[j]) for i in range(m) for j in range(m)) / (m * m)
    return xx + yy - 2 * xy


def test_kid_matches_direct_double_sum():
    real, fake = gaussian(30, 5, seed=7), gaussian(30, 5, seed=8, shift=0.5)
    mean, std = F.kid_from_features(real, fake, num_subsets=1, subset_size=30)
    assert mean == pytest.approx(direct_kid(fake, real), rel=1e-10)
    assert std == 0.0


def test_kid_near_zero_for_same_distribution_and_positive_for_shifted():
    real = gaussian(1000, 16, seed=9)
    same = gaussian(1000, 16, seed=10)
    shifted = gaussian(1000, 16, seed=11, shift=0.5)
    same_mean, same_std = F.kid_from_features(real, same, num_subsets=20, subset_size=500)
    shifted_mean, _ = F.kid_from_features(real, shifted, num_subsets=20, subset_size=500)
    assert abs(same_mean) < 3 * same_std + 1e-3
    assert shifted_mean > 0.05 > abs(same_mean)


def test_kid_clips_subset_size_and_is_seeded():
    real, fake = gaussian(50, 4, seed=12), gaussian(40, 4, seed=13, shift=0.2)
    assert F.kid_from_features(real, fake, num_subsets=5, seed=3) == F.kid_from_features(
        real, fake, num_subsets=5, subset_size=40, seed=3
    )
    assert F.kid_from_features(real, fake, num_subsets=5, seed=3) != F.kid_from_features(
        real, fake, num_subsets=5, subset_size=20, seed=4
    )


# ----------------------------------------------------- precision, recall, density, coverage


def brute_force_prdc(real: np.ndarray, fake: np.ndarray, k: int) -> dict[str, float]:
    def distances(a, b):
        return np.sqrt(((a[:, None, :] - b[None, :, :]) ** 2).sum(-1))

    real_radii = np.sort(distances(real, real), axis=1)[:, k]  # column 0 is the point itself
    fake_radii = np.sort(distances(fake, fake), axis=1)[:, k]
    real_fake = distances(real, fake)  # (N, M)
    inside_real_balls = real_fake <= real_radii[:, None]
    return {
        "precision": inside_real_balls.any(axis=0).mean(),
        "recall": (real_fake <= fake_radii[None, :]).any(axis=1).mean(),
        "density": inside_real_balls.sum() / (k * fake.shape[0]),
        "coverage": (real_fake.min(axis=1) <= real_radii).mean(),
    }


@pytest.mark.parametrize("k", [1, 3, 5])
def test_prdc_matches_brute_force(k, monkeypatch):
    monkeypatch.setattr(F, "BLOCK_ELEMENTS", 500)  # force several distance blocks
    real, fake = gaussian(120, 6, seed=14), gaussian(90, 6, seed=15, shift=0.4, scale=0.8)
    expected = brute_force_prdc(real, fake, k)
    precision, recall = F.precision_recall(real, fake, k=k)
    density, coverage = F.density_coverage(real, fake, k=k)
    assert (precision, recall) == pytest.approx((expected["precision"], expected["recall"]), abs=1e-12)
    assert (density, coverage) == pytest.approx((expected["density"], expected["coverage"]), abs=1e-12)
    assert 0 < precision <= 1 and 0 < recall < 1 and 0 < coverage < 1 and density > 0  # not a trivial case


def test_prdc_identical_sets():
    features = gaussian(200, 8, seed=16)
    assert F.precision_recall(features, features) == (1.0, 1.0)
    density, coverage = F.density_coverage(features, features)
    assert coverage == 1.0
    assert density >= 1.0  # every fake point is at least in its own ball; about 1 plus neighbours' balls


def test_prdc_disjoint_sets_score_zero():
    real, fake = gaussian(100, 8, seed=17), gaussian(100, 8, seed=18, shift=100.0)
    assert F.precision_recall(real, fake) == (0.0, 0.0)
    assert F.density_coverage(real, fake) == (0.0, 0.0)


def test_fake_covering_half_the_modes_has_half_recall_and_full_precision():
    centres = np.eye(4) * 50.0  # four far-apart modes in 4 dims
    real = np.concatenate([gaussian(100, 4, seed=20 + i) + c for i, c in enumerate(centres)])
    fake = np.concatenate([gaussian(100, 4, seed=30 + i) + c for i, c in enumerate(centres[:2])])
    precision, recall = F.precision_recall(real, fake, k=5)
    density, coverage = F.density_coverage(real, fake, k=5)
    assert precision > 0.95 and recall == pytest.approx(0.5, abs=0.05)
    assert coverage == pytest.approx(0.5, abs=0.05) and density > 0.5


# ----------------------------------------------------------------------------- accuracy and errors


def test_conditional_accuracy():
    assert F.conditional_accuracy(torch.tensor([0, 1, 2, 2]), np.array([0, 1, 1, 2])) == 0.75


@pytest.mark.parametrize(
    "call, message",
    [
        (lambda: F.fid_from_features(np.zeros((1, 4)), np.zeros((5, 4))), "at least 2"),
        (lambda: F.fid_from_features(np.zeros((5, 4)), np.zeros((5, 3))), "4 dims but fake features 3"),
        (lambda: F.fid_from_features(np.full((5, 4), np.nan), np.zeros((5, 4))), "NaN"),
        (lambda: F.fid_from_features(np.zeros(5), np.zeros(5)), "expected (N, D)"),
        (lambda: F.frechet_distance(np.zeros(3), np.eye(3), np.zeros(3), np.eye(4)), "sigma2"),
        (lambda: F.kid_from_features(np.zeros((5, 4)), np.zeros((1, 4))), "at least 2"),
        (lambda: F.kid_from_features(np.zeros((5, 4)), np.zeros((5, 4)), num_subsets=0), "num_subsets"),
        (lambda: F.precision_recall(np.zeros((3, 4)), np.zeros((10, 4)), k=3), "at least 4"),
        (lambda: F.density_coverage(np.zeros((10, 4)), np.zeros((10, 4)), k=0), "k=0"),
        (lambda: F.conditional_accuracy([1, 2], [1]), "differ"),
        (lambda: F.conditional_accuracy([], []), "no labels"),
    ],
)
def test_errors_are_one_line_metric_errors(call, message):
    with pytest.raises(MetricError) as info:
        call()
    assert isinstance(info.value, CondganError)
    assert message in str(info.value) and "\n" not in str(info.value)
