"""Sample-quality metrics as pure functions of feature arrays.

Every function takes (N, D) features (numpy arrays or torch tensors; they are never modified),
computes in float64 and returns Python floats. Feature extraction lives elsewhere
(`condgan.metrics.evaluator`), so these functions can be checked against independent references.

Conventions: FID and KID are distances (lower is better, 0 for identical distributions);
precision, recall and coverage are fractions in [0, 1] (higher is better); density is around 1
when the fake samples are distributed like the real ones (above 1: crowded near real samples).
"""

from __future__ import annotations

import math

import numpy as np
import torch

from condgan.errors import MetricError

ArrayLike = np.ndarray | torch.Tensor

# Pairwise-distance blocks are at most this many float64 entries (64 MiB): 10,000 x 10,000 is fine.
BLOCK_ELEMENTS = 1 << 23


def _as_numpy(values: ArrayLike, name: str) -> np.ndarray:
    if isinstance(values, torch.Tensor):
        values = values.detach().cpu().numpy()
    array = np.asarray(values, dtype=np.float64)
    if not np.all(np.isfinite(array)):
        raise MetricError(f"{name} contain NaN or infinite values; check the model or images behind them")
    return array


def _features(values: ArrayLike, name: str, min_samples: int) -> np.ndarray:
    array = _as_numpy(values, name)
    if array.ndim != 2:
        raise MetricError(f"{name} have shape {tuple(array.shape)}, expected (N, D); flatten each sample")
    if array.shape[0] < min_samples:
        raise MetricError(f"{name} have {array.shape[0]} samples, this metric needs at least {min_samples}; pass more")
    return array


def _feature_pair(real: ArrayLike, fake: ArrayLike, min_samples: int) -> tuple[np.ndarray, np.ndarray]:
    real_array = _features(real, "real features", min_samples)
    fake_array = _features(fake, "fake features", min_samples)
    if real_array.shape[1] != fake_array.shape[1]:
        raise MetricError(
            f"real features have {real_array.shape[1]} dims but fake features {fake_array.shape[1]}; "
            "extract both with the same evaluator"
        )
    return real_array, fake_array


# ----------------------------------------------------------------------------- FID


def _trace_sqrt_product(sigma1: np.ndarray, sigma2: np.ndarray) -> float:
    """tr(sqrtm(sigma1 @ sigma2)) for symmetric positive semi-definite matrices.

    sigma1 @ sigma2 has the same eigenvalues as the symmetric PSD matrix
    sqrt(sigma1) @ sigma2 @ sqrt(sigma1), so the trace is the sum of the square roots of
    that matrix's eigenvalues (`numpy.linalg.eigh`): real by construction, with rounding
    noise (tiny negative eigenvalues of a singular product) clipped to 0.
    """
    values, vectors = np.linalg.eigh((sigma1 + sigma1.T) / 2)
    root1 = (vectors * np.sqrt(np.clip(values, 0.0, None))) @ vectors.T  # sqrt(sigma1), (D, D)
    middle = root1 @ sigma2 @ root1
    eigenvalues = np.linalg.eigvalsh((middle + middle.T) / 2)
    return float(np.sqrt(np.clip(eigenvalues, 0.0, None)).sum())


def frechet_distance(mu1: ArrayLike, sigma1: ArrayLike, mu2: ArrayLike, sigma2: ArrayLike, eps: float = 1e-6) -> float:
    """Frechet distance between N(mu1, sigma1) and N(mu2, sigma2); lower is better, 0 if equal.

    d^2 = ||mu1 - mu2||^2 + tr(sigma1 + sigma2 - 2 sqrtm(sigma1 sigma2)) (Heusel et al. 2017).
    The matrix square root is not taken with `scipy.linalg.sqrtm`: its trace comes from an
    eigendecomposition of the symmetric form sqrt(sigma1) sigma2 sqrt(sigma1), which is real
    and well defined even when the product is singular. Should that still fail (no convergence
    or a non-finite result), eps * I is added to both covariances and it is tried again, as
    pytorch-fid does for sqrtm.
    """
    mean1, mean2 = _as_numpy(mu1, "mu1"), _as_numpy(mu2, "mu2")
    cov1, cov2 = _as_numpy(sigma1, "sigma1"), _as_numpy(sigma2, "sigma2")
    dims = mean1.shape[0] if mean1.ndim == 1 else -1
    expected = {"mu2": (mean2, (dims,)), "sigma1": (cov1, (dims, dims)), "sigma2": (cov2, (dims, dims))}
    for name, (value, shape) in expected.items():
        if mean1.ndim != 1 or value.shape != shape:
            raise MetricError(
                f"{name} has shape {tuple(value.shape)} but mu1 has {tuple(mean1.shape)}; "
                "expected means (D,) and covariances (D, D) of the same D"
            )
    try:
        trace_covmean = _trace_sqrt_product(cov1, cov2)
    except np.linalg.LinAlgError:
        trace_covmean = math.nan
    if not math.isfinite(trace_covmean):
        offset = np.eye(dims) * eps
        trace_covmean = _trace_sqrt_product(cov1 + offset, cov2 + offset)
    diff = mean1 - mean2
    return float(diff @ diff + np.trace(cov1) + np.trace(cov2) - 2.0 * trace_covmean)


def fid_from_features(real_features: ArrayLike, fake_features: ArrayLike) -> float:
    """Frechet distance between Gaussians fitted to two feature sets (N, D); lower is better.

    Needs at least 2 samples per set; with fewer samples than feature dims the covariances are
    singular and the estimate is biased upwards, so compare FIDs only at equal sample counts.
    """
    real, fake = _feature_pair(real_features, fake_features, min_samples=2)
    real_cov, fake_cov = np.cov(real, rowvar=False), np.cov(fake, rowvar=False)
    return frechet_distance(real.mean(0), real_cov, fake.mean(0), fake_cov)


# ----------------------------------------------------------------------------- KID


def _polynomial_mmd2(x: np.ndarray, y: np.ndarray) -> float:
    """Unbiased MMD^2 between equal-size sets with k(a, b) = (a.b / D + 1)^3 (as torch-fidelity)."""
    m, dims = x.shape
    k_xx = (x @ x.T / dims + 1.0) ** 3  # (m, m)
    k_yy = (y @ y.T / dims + 1.0) ** 3
    k_xy = (x @ y.T / dims + 1.0) ** 3
    within = (k_xx.sum() - np.trace(k_xx) + k_yy.sum() - np.trace(k_yy)) / (m * (m - 1))
    return float(within - 2.0 * k_xy.sum() / (m * m))


def kid_from_features(
    real: ArrayLike, fake: ArrayLike, num_subsets: int = 100, subset_size: int = 1000, seed: int = 0
) -> tuple[float, float]:
    """Kernel Inception Distance: (mean, std) of unbiased MMD^2 over random subsets; lower is better.

    Cubic polynomial kernel k(x, y) = (x.y / D + 1)^3 (Binkowski et al. 2018); each of
    `num_subsets` draws takes `subset_size` samples without replacement from each set
    (clipped to the smaller set), as torch-fidelity does. Near 0 (and possibly slightly
    negative) for identical distributions; std is over subsets (ddof=0), seeded by `seed`.
    """
    real_array, fake_array = _feature_pair(real, fake, min_samples=2)
    if num_subsets < 1 or subset_size < 2:
        raise MetricError(f"num_subsets={num_subsets}, subset_size={subset_size}; use at least 1 and 2")
    size = min(subset_size, real_array.shape[0], fake_array.shape[0])
    rng = np.random.default_rng(seed)
    mmds = np.empty(num_subsets)
    for i in range(num_subsets):
        x = fake_array[rng.choice(fake_array.shape[0], size, replace=False)]
        y = real_array[rng.choice(real_array.shape[0], size, replace=False)]
        mmds[i] = _polynomial_mmd2(x, y)
    return float(mmds.mean()), float(mmds.std())


# ----------------------------------------------------- precision, recall, density, coverage


def _block_rows(columns: int) -> int:
    return max(1, BLOCK_ELEMENTS // max(columns, 1))


def _distance_blocks(rows: torch.Tensor, columns: torch.Tensor):
    """Yield (start, distances (b, M)) blocks of the Euclidean distance matrix rows x columns."""
    step = _block_rows(columns.shape[0])
    for start in range(0, rows.shape[0], step):
        yield start, torch.cdist(rows[start : start + step], columns)


def _knn_radii(points: torch.Tensor, k: int) -> torch.Tensor:
    """Distance from each point to its k-th nearest neighbour in the same set (itself excluded)."""
    radii = torch.empty(points.shape[0], dtype=points.dtype)
    for start, distances in _distance_blocks(points, points):
        # The point itself is at distance 0, the smallest, so the (k+1)-th smallest is the k-th neighbour.
        radii[start : start + distances.shape[0]] = distances.kthvalue(k + 1, dim=1).values
    return radii


def _knn_pair(real: ArrayLike, fake: ArrayLike, k: int) -> tuple[torch.Tensor, torch.Tensor]:
    if k < 1:
        raise MetricError(f"k={k}; the number of nearest neighbours must be at least 1")
    real_array, fake_array = _feature_pair(real, fake, min_samples=k + 1)
    return torch.from_numpy(real_array), torch.from_numpy(fake_array)


def _fraction_inside(points: torch.Tensor, centres: torch.Tensor, radii: torch.Tensor) -> float:
    """Fraction of points inside at least one closed ball B(centre, radius)."""
    inside = 0
    for _, distances in _distance_blocks(points, centres):
        inside += int((distances <= radii[None, :]).any(dim=1).sum())
    return inside / points.shape[0]


def precision_recall(real: ArrayLike, fake: ArrayLike, k: int = 3) -> tuple[float, float]:
    """Improved precision and recall (Kynkaanniemi et al. 2019); both in [0, 1], higher is better.

    Each set's manifold is the union of closed balls around its samples, each ball reaching
    that sample's k-th nearest neighbour in the same set. Precision: fraction of fake samples
    inside the real manifold (fidelity). Recall: fraction of real samples inside the fake
    manifold (diversity). Each set needs more than k samples.
    """
    real_points, fake_points = _knn_pair(real, fake, k)
    precision = _fraction_inside(fake_points, real_points, _knn_radii(real_points, k))
    recall = _fraction_inside(real_points, fake_points, _knn_radii(fake_points, k))
    return precision, recall


def density_coverage(real: ArrayLike, fake: ArrayLike, k: int = 5) -> tuple[float, float]:
    """Density and coverage (Naeem et al. 2020), built on real k-NN balls only.

    Density = (1 / kM) * sum over the M fake samples of how many real balls contain it: about 1
    when fake matches real, unbounded above, higher means more samples where real ones are
    dense. Coverage = fraction of real samples whose ball contains at least one fake sample,
    in [0, 1], higher is better. Balls are closed; each set needs more than k samples.
    """
    real_points, fake_points = _knn_pair(real, fake, k)
    radii = _knn_radii(real_points, k)
    hits = 0
    for _, distances in _distance_blocks(fake_points, real_points):
        hits += int((distances <= radii[None, :]).sum())
    covered = 0
    for start, distances in _distance_blocks(real_points, fake_points):
        nearest_fake = distances.min(dim=1).values
        covered += int((nearest_fake <= radii[start : start + distances.shape[0]]).sum())
    return hits / (k * fake_points.shape[0]), covered / real_points.shape[0]


# ----------------------------------------------------------------------------- labels


def conditional_accuracy(predicted: ArrayLike, requested: ArrayLike) -> float:
    """Fraction of generated samples classified as the class they were generated for; higher is better.

    `predicted` are the evaluator's labels for the samples, `requested` the labels they were
    conditioned on; both (N,) integers.
    """
    got = _as_numpy(predicted, "predicted labels")
    want = _as_numpy(requested, "requested labels")
    if got.ndim != 1 or got.shape != want.shape:
        raise MetricError(
            f"predicted labels {tuple(got.shape)} and requested labels {tuple(want.shape)} differ; "
            "pass one (N,) label per sample in both"
        )
    if got.shape[0] == 0:
        raise MetricError("no labels given; generate at least one sample per class")
    return float((got == want).mean())
