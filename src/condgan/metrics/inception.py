"""Optional Inception-v3 features, for the FID that papers report on RGB data; local weights only.

The domain evaluator (`condgan.metrics.evaluator`) is what `condgan eval` always uses. Inception
FID is added when the user points at the weights file with `--inception-weights PATH` and
torch-fidelity is installed (`pip install 'condgan[inception]'`; it brings torchvision). Nothing
is downloaded at run time: without the file or the package, one line says how to get them and
the domain metrics still run.

torch-fidelity's `FeatureExtractorInceptionV3` is used directly rather than torchmetrics'
`FrechetInceptionDistance`: torchmetrics wraps the very same network (and needs torch-fidelity
for it), and the Frechet distance itself is `condgan.metrics.functional.fid_from_features`,
already checked against an independent reference.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

import torch
from torch import nn

from condgan.errors import MetricError

WEIGHTS_FILE = "weights-inception-2015-12-05-6726825d.pth"
WEIGHTS_URL = f"https://github.com/toshas/torch-fidelity/releases/download/v0.2.0/{WEIGHTS_FILE}"
INSTALL = "pip install 'condgan[inception]'"
HOW_TO = f"{INSTALL} and download {WEIGHTS_URL}, then pass --inception-weights PATH"


def torch_fidelity_installed() -> bool:
    return importlib.util.find_spec("torch_fidelity") is not None


def check_inception(weights_path: str | Path | None) -> str | None:
    """None when Inception FID can be computed; otherwise the one line saying why not and how to get it.

    A weights path that does not exist is an error (a typo should not cost a whole evaluation).
    """
    if weights_path is None:
        return f"Inception FID not computed (no weights given); for it: {HOW_TO}"
    path = Path(weights_path).expanduser()
    if not path.is_file():
        raise MetricError(f"Inception weights file {path} does not exist; download {WEIGHTS_URL} and pass its path")
    if not torch_fidelity_installed():
        return f"Inception FID not computed: torch-fidelity is not installed; {INSTALL}"
    return None


def load_inception(weights_path: str | Path, device: torch.device | str = "cpu") -> nn.Module:
    """torch-fidelity's Inception-v3 (2048-d pool features) from a local weights file, in eval mode."""
    path = Path(weights_path).expanduser()
    reason = check_inception(path)
    if reason is not None:
        raise MetricError(reason)
    from torch_fidelity.feature_extractor_inceptionv3 import FeatureExtractorInceptionV3

    try:
        model = FeatureExtractorInceptionV3("inception-v3-compat", ["2048"], feature_extractor_weights_path=str(path))
    except Exception as error:  # torch.load / load_state_dict raise many types for a wrong file
        first = str(error).splitlines()[0][:200] if str(error) else ""
        raise MetricError(
            f"{path}: cannot load Inception weights ({type(error).__name__}: {first}); expected {WEIGHTS_FILE}"
        ) from None
    return model.to(device).eval()


@torch.no_grad()
def inception_features(model: nn.Module, images_uint8: torch.Tensor, batch_size: int = 200) -> torch.Tensor:
    """uint8 (N, C, H, W), C = 1 or 3 -> (N, 2048) float32 on the CPU; grayscale is repeated to RGB."""
    if images_uint8.dtype != torch.uint8 or images_uint8.ndim != 4 or images_uint8.shape[1] not in (1, 3):
        raise MetricError(
            f"Inception features need uint8 images (N, 1 or 3, H, W), got {images_uint8.dtype} "
            f"{tuple(images_uint8.shape)}"
        )
    device = next(model.parameters()).device
    out = []
    for start in range(0, images_uint8.shape[0], batch_size):
        batch = images_uint8[start : start + batch_size].to(device)
        if batch.shape[1] == 1:
            batch = batch.expand(-1, 3, -1, -1)  # (B, 3, H, W)
        out.append(model(batch)[0].float().cpu())  # (B, 2048)
    return torch.cat(out) if out else torch.zeros(0, 2048)
