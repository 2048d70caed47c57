"""Data: IDX files, named datasets, image folders, in-memory batches."""

from condgan.data.datasets import ImageDataset, dataset_names, load_dataset
from condgan.data.idx import parse_idx, read_idx
from condgan.data.loader import InMemoryBatches, to_float, to_uint8

__all__ = [
    "ImageDataset",
    "InMemoryBatches",
    "dataset_names",
    "load_dataset",
    "parse_idx",
    "read_idx",
    "to_float",
    "to_uint8",
]
