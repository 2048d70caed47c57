"""DiffAugment's transforms (tasks/augment.py): what each does to an image, gradients through them, the policy."""

import pytest
import torch

from condgan.config import ConfigError, from_dict
from condgan.tasks.augment import AUGMENTS, augment, cutout, parse, translation


def items(batch: int = 64, size: int = 16) -> torch.Tensor:
    """Distinct images on a -1 background: a random patch in the middle of each."""
    images = torch.full((batch, 2, size, size), -1.0)
    images[:, :, 4:12, 5:11] = torch.rand(batch, 2, 8, 6) * 2 - 1
    return images


def test_translation_is_a_whole_pixel_shift_of_at_most_an_eighth_with_the_background_behind():
    torch.manual_seed(0)
    images = items()
    moved = translation(images)
    shifts = set()
    for image, out in zip(images, moved, strict=True):
        found = [(dy, dx) for dy in range(-2, 3) for dx in range(-2, 3)
                 if torch.equal(out, torch.roll(image, (dy, dx), dims=(1, 2)))]  # fmt: skip
        assert found, "not a shift of at most 2 px (1/8 of 16)"
        shifts.add(found[0])
    assert len(shifts) > 10  # each image drew its own shift


def test_translation_fills_what_it_uncovers_with_the_corner_value():
    torch.manual_seed(1)
    images = torch.rand(32, 1, 16, 16)
    images[:, :, 0, 0] = 0.25  # the background the fill takes
    moved = translation(images)
    kept = torch.isin(moved, images.flatten())
    assert torch.all(kept | (moved == 0.25))
    assert (moved == 0.25).sum() > 32  # borders were uncovered


def test_cutout_zeroes_one_square_of_half_the_side_clipped_at_the_edges():
    torch.manual_seed(2)
    images = torch.rand(64, 3, 16, 16) + 1  # no zeros of its own
    out = cutout(images)
    for image, result in zip(images, out, strict=True):
        hole = result[0] == 0
        assert torch.equal(hole, result[1] == 0) and torch.equal(hole, result[2] == 0)  # every channel
        assert torch.equal(result[:, ~hole], image[:, ~hole])
        rows, cols = hole.any(1).nonzero().flatten(), hole.any(0).nonzero().flatten()
        assert 1 <= len(rows) <= 8 and 1 <= len(cols) <= 8
        assert hole[rows[0] : rows[-1] + 1, cols[0] : cols[-1] + 1].all()  # one filled rectangle
        assert len(rows) == 8 or rows[0] == 0 or rows[-1] == 15  # clipped only by an edge


@pytest.mark.parametrize("name", list(AUGMENTS))
def test_each_transform_passes_gradients_and_keeps_the_shape(name):
    images = items(8).requires_grad_(True)
    out = augment(images, (name,))
    assert out.shape == images.shape
    out.square().sum().backward()
    assert images.grad is not None and images.grad.abs().sum() > 0


def test_no_policy_is_the_images_themselves():
    images = items(4)
    assert augment(images, ()) is images
    assert parse("") == () and parse(" translation, cutout ") == ("translation", "cutout")


def test_an_unknown_transform_is_a_config_error_listing_the_choices():
    with pytest.raises(ConfigError, match="loss.augment.*translation, cutout, brightness, contrast"):
        from_dict({"loss": {"augment": "translation,flip"}})
    with pytest.raises(ValueError, match="unknown augmentation 'flip'"):
        parse("flip")
