"""Everything after training: each path starts from a run directory or `pretrained:NAME`.

    runs.py        a run directory or pretrained:NAME -> its folder, config and generator weights
    generate.py    load_generator, ClassConditionalGenerator, the class grid's noise and labels
    translate.py   load_translator, Translator (pix2pix, and each direction of a cyclegan run)
    sampling.py    the pictures of `condgan sample` (grids, interpolations)
    export.py      ONNX export of a run's generator, with its metadata
    pretrained.py  packing a trained run into a shipped model (`condgan pretrained pack`)

Imports go one way: runs imports none of the others; generate and translate read runs through it;
sampling, export and pretrained sit above them. This file imports nothing, so importing one module
of the package loads only what that module needs. Batch-norm folding for sampling stays in
models/folding.py: the generators' `fold_class` uses it, and models sit below inference.
"""
