"""The embedded default data set: scikit-learn's 8 x 8 handwritten digits (no download)."""

from .dataset import DataSplit

#: Pixel intensities in the scikit-learn digits run from 0 to this value.
_MAX_INTENSITY = 16.0


def load_digits(binarize: bool = False, test_fraction: float = 0.2,
                seed: int = 0) -> DataSplit:
    """The 1797 digits (8 x 8 = 64 columns) as a ``DataSplit`` with labels 0..9.

    Pixels are divided by 16 so they lie in [0, 1]; ``binarize=True`` keeps ``x > 0.5`` as 0/1
    (name ``"digits-binary"``, else ``"digits"``).  The test set is the seeded split of
    ``split_indices``: the same ``seed`` gives the same rows.

    Args:
        binarize: 0/1 pixels instead of intensities in [0, 1].
        test_fraction: the share of rows in the test set.
        seed: seeds the split.

    Returns:
        A ``DataSplit`` of 64 columns, ``image_shape = (8, 8)``, with labels.
    """
    # Imported here: scikit-learn takes about a second to import, which only this loader needs.
    from sklearn.datasets import load_digits as sklearn_digits

    images, labels = sklearn_digits(return_X_y=True)
    return DataSplit.from_array(
        images.reshape(-1, 8, 8) / _MAX_INTENSITY, labels,
        name="digits-binary" if binarize else "digits",
        test_fraction=test_fraction, seed=seed, binarize=binarize, argument="digits")
