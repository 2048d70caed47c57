"""Sample-quality metrics: pure functions on features (`functional`) and the domain evaluator
that extracts features and labels from images (`evaluator`). Nothing is trained on import."""

from condgan.metrics.evaluator import EVALUATOR_VERSION, Evaluator, load_evaluator, predict, train_evaluator
from condgan.metrics.functional import (
    conditional_accuracy,
    density_coverage,
    fid_from_features,
    frechet_distance,
    kid_from_features,
    precision_recall,
)

__all__ = [
    "EVALUATOR_VERSION",
    "Evaluator",
    "conditional_accuracy",
    "density_coverage",
    "fid_from_features",
    "frechet_distance",
    "kid_from_features",
    "load_evaluator",
    "precision_recall",
    "predict",
    "train_evaluator",
]
