"""CycleGAN's image pool: new or swapped old images at the rate set, and an exact restore."""

from __future__ import annotations

import pytest
import torch

from condgan.tasks.image_pool import ImagePool


def _images(start: int, count: int) -> torch.Tensor:
    """`count` 1x1 images whose pixel is their serial number, from `start`: (count, 1, 1, 1)."""
    return torch.arange(start, start + count, dtype=torch.float32).view(count, 1, 1, 1)


def test_the_pool_shows_new_images_until_it_is_full():
    pool = ImagePool(5, seed=0)
    assert torch.equal(pool.query(_images(0, 3)), _images(0, 3))
    assert torch.equal(pool.query(_images(3, 2)), _images(3, 2))
    assert pool.count == 5 and sorted(pool.images.flatten().tolist()) == [0, 1, 2, 3, 4]


def test_a_full_pool_swaps_at_the_rate_set_and_shows_only_images_it_was_given():
    for rate in (0.5, 0.2):
        pool = ImagePool(10, swap_probability=rate, seed=1)
        pool.query(_images(0, 10))
        count, swapped, seen = 2000, 0, set(range(10))
        for serial in range(10, 10 + count):
            stored_before = set(pool.images.flatten().tolist())
            shown = pool.query(_images(serial, 1)).item()
            stored_after = set(pool.images.flatten().tolist())
            if shown == serial:  # the new image, shown and not stored
                assert stored_after == stored_before
            else:  # an old image, taken out of the pool; the new one took its place
                swapped += 1
                assert shown in stored_before and shown in seen
                assert stored_after == (stored_before - {shown}) | {serial}
            seen.add(serial)
        assert abs(swapped / count - rate) < 0.04, (rate, swapped / count)  # binomial sd ~0.011


def test_size_zero_is_no_pool():
    images = _images(0, 4)
    assert ImagePool(0).query(images) is images


def test_a_restored_pool_continues_exactly():
    pool = ImagePool(6, seed=3)
    for start in range(0, 40, 4):
        pool.query(_images(start, 4))
    state = pool.state_dict()
    restored = ImagePool(6, seed=99)  # another seed: everything must come from the state
    restored.load_state_dict(state)
    for start in range(40, 120, 4):
        assert torch.equal(pool.query(_images(start, 4)), restored.query(_images(start, 4)))
    assert torch.equal(pool.images, restored.images)


def test_a_partly_filled_pool_round_trips():
    pool = ImagePool(6, seed=0)
    pool.query(_images(0, 2))
    restored = ImagePool(6, seed=0)
    restored.load_state_dict(pool.state_dict())
    assert restored.count == 2
    assert torch.equal(restored.query(_images(2, 8)), pool.query(_images(2, 8)))


def test_bad_pool_settings():
    with pytest.raises(ValueError, match="size >= 0"):
        ImagePool(-1)
    with pytest.raises(ValueError, match="swap_probability in"):
        ImagePool(5, swap_probability=1.5)
