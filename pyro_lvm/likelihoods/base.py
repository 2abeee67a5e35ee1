"""What every observation model p_θ(x | z) has: a support, a decoder head, masking.

A likelihood turns the decoder's output (``num_outputs`` numbers per row) into a Pyro
distribution over a row of ``data_dim`` features.  ``elementwise(out)`` has batch shape
``(..., data_dim)``, one factor per feature; ``forward(out, mask)`` leaves out the factors of
missing entries (``mask`` False) and sums the rest: log p(x_obs | z) = Σ_{d observed} log
p(x_d | z), with event shape ``(data_dim,)``.
"""

import dataclasses
import math

import pyro.distributions as dist
import torch
from torch import nn

from ..errors import bad_value


@dataclasses.dataclass(frozen=True)
class Support:
    """The values a feature may take: an interval, open or closed at each end, of reals or
    of integers."""

    low: float = -math.inf
    high: float = math.inf
    open_low: bool = False
    open_high: bool = False
    integer: bool = False

    def describe(self):
        if self.integer:
            return ("non-negative integers" if self.low == 0 and self.high == math.inf
                    else f"integers from {self.low:g} to {self.high:g}")
        if self.low == -math.inf and self.high == math.inf:
            return "finite numbers"
        return (f"values in {'(' if self.open_low else '['}{self.low:g}, "
                f"{self.high:g}{')' if self.open_high else ']'}")

    def outside(self, x):
        """A boolean tensor: which (non-NaN) entries of ``x`` lie outside the support."""
        low = x <= self.low if self.open_low else x < self.low
        high = x >= self.high if self.open_high else x > self.high
        bad = low | high
        if self.integer:
            bad |= x != torch.round(x)
        return bad & ~torch.isnan(x)


REAL = Support()


class MaskedEntries(dist.MaskedDistribution):
    """``base`` with the entries where ``mask`` is False left out of ``log_prob``.  Those
    entries of a value (NaN, for a missing one) are replaced by ``fill`` before ``base`` sees
    them, so that neither the log-density nor its gradient meets a NaN."""

    def __init__(self, base, mask, fill):
        super().__init__(base, mask)
        self.fill = fill

    def expand(self, batch_shape, _instance=None):
        batch_shape = torch.Size(batch_shape)
        return MaskedEntries(self.base_dist.expand(batch_shape),
                             self._mask.expand(batch_shape), self.fill)

    def log_prob(self, value):
        value = torch.where(self._mask, value, torch.as_tensor(self.fill, dtype=value.dtype,
                                                              device=value.device))
        return super().log_prob(value)


class Likelihood(nn.Module):
    """The base of the observation models: subclasses give ``elementwise`` and ``mean``.

    Attributes:
        data_dim: the features of a row of x that it models.
        num_outputs: the decoder outputs it reads per row.
        support: the values each feature may take.
        fill_value: what a missing entry is set to before the (masked) log-density is taken:
            a value in the support, so that its factor is finite and then left out.
        name: the name in ``LIKELIHOODS`` and in a table's schema.
    """

    support = REAL
    fill_value = 0.0
    name = ""
    #: ``features(x)`` is ``x`` itself.
    features_are_data = True

    def __init__(self, data_dim: int, num_outputs: int | None = None):
        super().__init__()
        self.data_dim = data_dim
        self.num_outputs = data_dim if num_outputs is None else num_outputs

    def elementwise(self, out):
        """p(x_d | z) for each feature d: batch shape ``(..., data_dim)``."""
        raise NotImplementedError

    def mean(self, out):
        """E[x | z], shape ``(..., data_dim)``."""
        raise NotImplementedError

    def forward(self, out, mask=None):
        """p(x | z) with event shape ``(data_dim,)``; with ``mask`` only the factors where it is
        True count: a missing entry (NaN, or any value) contributes nothing to log p or to its
        gradient (``MaskedEntries``)."""
        factors = self.elementwise(out)
        if mask is not None:
            factors = MaskedEntries(factors, mask, self.fill_value)
        return factors.to_event(1)

    def weighted_mean(self, out, weights):
        """Σ_k w_k E[x | z_k] from decoder outputs ``(K, ..., num_outputs)`` at K draws and
        normalized weights ``(K, ...)``: the point estimate of x under the mixture."""
        return (weights.unsqueeze(-1) * self.mean(out)).sum(0)

    def features(self, x):
        """What the encoder sees of a (filled) row: ``x`` itself unless a subclass says."""
        return x

    #: The encoder inputs per row that ``features`` gives.
    @property
    def num_features(self):
        return self.data_dim

    def feature_mask(self, mask):
        """Which encoder inputs come from observed entries (``mask`` per feature)."""
        return mask

    def fill(self, x):
        """``x`` with its missing (NaN) entries set to ``fill_value``."""
        return torch.nan_to_num(x, nan=self.fill_value)

    def check(self, x, argument="x", columns=None):
        """Refuse observed entries of ``x`` outside the support, naming the first one found
        (its row, and its column by name when ``columns`` names them)."""
        bad = self.support.outside(x)
        if bool(bad.any()):
            row, col = (int(i) for i in bad.nonzero()[0])
            where = f"column {columns[col]!r}" if columns is not None else f"column {col}"
            raise bad_value(argument, f"{float(x[row, col]):g} in row {row}, {where}",
                            f"{self.support.describe()} for likelihood {self.name!r}")
        return x


class StandardizedLikelihood(Likelihood):
    """A likelihood of real features x_d = c_d + s_d u_d modelled through their standardized
    values u_d: the decoder works in standardized units, densities are in the data's own
    (log p(x_d) = log p(u_d) − log s_d), and the encoder sees u.

    c and s come from the model's config (a table's schema), so they are not in the state
    dict.

    Args:
        data_dim: the number of features.
        num_outputs: the decoder outputs per row.
        center: c, per feature (``None``: 0).
        spread: s > 0, per feature (``None``: 1).
    """

    def __init__(self, data_dim, num_outputs=None, center=None, spread=None):
        super().__init__(data_dim, num_outputs)
        self.features_are_data = center is None and spread is None
        for name, value, default in (("center", center, 0.0), ("spread", spread, 1.0)):
            value = torch.full((data_dim,), default) if value is None else \
                torch.as_tensor(value, dtype=torch.get_default_dtype())
            self.register_buffer(name, value, persistent=False)

    def features(self, x):
        return x if self.features_are_data else (x - self.center) / self.spread
