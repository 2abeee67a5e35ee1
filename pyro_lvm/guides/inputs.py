"""What an amortized encoder sees of a row: its likelihood's features, and which are missing.

``EncoderInputs`` maps a row x to the encoder's input: the likelihood's ``features`` (a count
as log(1 + x), a real column standardized, a categorical one-hot).  With missing entries
(NaN) it is the zero-filled features followed by the observation mask, [f(x̃) ⊙ m_f, m], as
in MIWAE (Mattei & Frellsen, 2019): the encoder knows which entries it did not see.
``InputsGuide`` puts it in front of a guide written for those inputs.
"""

import torch
from torch import nn



class EncoderInputs(nn.Module):
    """x ↦ the encoder's input (see the module docstring).

    Args:
        likelihood: the model's ``Likelihood`` (its ``features``, ``fill`` and
            ``feature_mask``).
        missing: rows may have missing (NaN) entries.

    Attributes:
        num_features: the size of the encoder's input per row.
        identity: the input is x itself (no features and nothing missing).
    """

    def __init__(self, likelihood: nn.Module, missing: bool = False):
        super().__init__()
        # a reference, not a submodule: the likelihood's parameters belong to the model alone
        self.__dict__["likelihood"] = likelihood
        self.missing = bool(missing)
        self.num_features = likelihood.num_features + (likelihood.data_dim if missing else 0)
        self.identity = not missing and likelihood.features_are_data

    def forward(self, x):
        if not self.missing:
            return self.likelihood.features(x)
        mask = ~torch.isnan(x)
        features = self.likelihood.features(self.likelihood.fill(x))
        features = features * self.likelihood.feature_mask(mask).to(features.dtype)
        return torch.cat([features, mask.to(features.dtype)], -1)


class InputsGuide(nn.Module):
    """``guide`` applied to ``inputs(x)`` instead of x: same sites, same arguments (the inner
    guide registers its own parameters).

    Args:
        inputs: an ``EncoderInputs``.
        guide: a contract-following guide whose input size is ``inputs.num_features``.
    """

    def __init__(self, inputs: EncoderInputs, guide: nn.Module):
        super().__init__()
        self.inputs, self.guide = inputs, guide

    def distribution(self, x):
        """q(z | x) of the inner guide at the inputs of ``x``."""
        return self.guide.distribution(self.inputs(x))

    def forward(self, x, indices=None, num_data=None):
        return self.guide(self.inputs(x), indices, num_data)
