"""A table's likelihood: one observation model per column group, their product over columns.

A table's schema is a list of ``Column``: each names a column, the kind of its likelihood, and
what the kind needs (the levels of a categorical column; the center and spread that
standardize a real one).  ``TableLikelihood`` groups the columns by kind (each categorical
column alone, as its number of levels is its own) and

    log p(x | z) = Σ_groups Σ_{d in group, observed} log p_group(x_d | z).
"""

import dataclasses

import pyro.distributions as dist
import torch
from torch.distributions import constraints

from ..errors import bad_type, bad_value
from .base import Likelihood, StandardizedLikelihood
from .continuous import (BetaLikelihood, ContinuousBernoulliLikelihood, GaussianLikelihood,
                         StudentTLikelihood)
from .discrete import (BernoulliLikelihood, CategoricalLikelihood, NegativeBinomialLikelihood,
                       PoissonLikelihood, ZeroInflatedNegativeBinomialLikelihood)

#: The likelihoods a whole matrix (or a group of a table's columns) can have, by name.
LIKELIHOODS = {cls.name: cls for cls in (
    BernoulliLikelihood, GaussianLikelihood, StudentTLikelihood, BetaLikelihood,
    ContinuousBernoulliLikelihood, PoissonLikelihood, NegativeBinomialLikelihood,
    ZeroInflatedNegativeBinomialLikelihood)}
#: The kinds of a table's columns: the above and ``categorical``.
COLUMN_KINDS = (*LIKELIHOODS, CategoricalLikelihood.name)


@dataclasses.dataclass(frozen=True)
class Column:
    """One column of a table's schema.

    Attributes:
        name: the column's name in the user's table.
        kind: its likelihood, one of ``COLUMN_KINDS``.
        levels: a categorical column's levels, in code order (code k is ``levels[k]``).
        center, spread: a gaussian or studentt column's standardization (its mean and
            standard deviation in the data): x = center + spread · u.
    """

    name: str
    kind: str
    levels: tuple = ()
    center: float = 0.0
    spread: float = 1.0

    def __post_init__(self):
        if self.kind not in COLUMN_KINDS:
            raise bad_value(f"column {self.name!r}", self.kind, f"one of {list(COLUMN_KINDS)}")
        if (self.kind == "categorical") != bool(self.levels):
            raise bad_value(f"levels of column {self.name!r}", self.levels,
                            "two or more levels for a categorical column, none for another")
        if not self.spread > 0:
            raise bad_value(f"spread of column {self.name!r}", self.spread, "a number > 0")

    def to_config(self):
        record = dataclasses.asdict(self)
        record["levels"] = list(self.levels)
        return record

    @classmethod
    def from_config(cls, record):
        if isinstance(record, Column):
            return record
        if not isinstance(record, dict):
            raise bad_type("column", record, "a Column or a dict of its fields")
        return cls(**{**record, "levels": tuple(record.get("levels", ()))})


def _group_likelihood(kind, columns):
    if kind == "categorical":
        return CategoricalLikelihood(len(columns[0].levels))
    cls = LIKELIHOODS[kind]
    if issubclass(cls, StandardizedLikelihood):
        return cls(len(columns), center=[c.center for c in columns],
                   spread=[c.spread for c in columns])
    return cls(len(columns))


class TableDistribution(dist.TorchDistribution):
    """The product over column groups of their elementwise distributions, with event shape
    ``(data_dim,)``; entries where ``mask`` is False are left out of ``log_prob`` (and set to
    their column's ``fill`` value before a group's distribution sees them)."""

    arg_constraints = {}
    support = constraints.real_vector

    def __init__(self, parts, fill, mask=None):
        self.parts, self.fill, self.mask = parts, fill, mask
        batch_shape = parts[0][1].batch_shape[:-1]
        super().__init__(batch_shape, fill.shape, validate_args=False)

    def expand(self, batch_shape, _instance=None):
        batch_shape = torch.Size(batch_shape)
        parts = [(index, d.expand(batch_shape + d.batch_shape[-1:])) for index, d in self.parts]
        mask = None if self.mask is None else self.mask.expand(batch_shape + self.event_shape)
        return TableDistribution(parts, self.fill, mask)

    def log_prob(self, value):
        if self.mask is not None:
            value = torch.where(self.mask, value, self.fill.to(value.dtype))
        total = 0.0
        for index, d in self.parts:
            log_p = d.log_prob(value[..., index])
            if self.mask is not None:
                log_p = torch.where(self.mask[..., index], log_p, torch.zeros_like(log_p))
            total = total + log_p.sum(-1)
        return total

    def sample(self, sample_shape=torch.Size()):
        parts = [(index, d.sample(sample_shape)) for index, d in self.parts]
        shape = parts[0][1].shape[:-1] + self.event_shape
        value = torch.empty(shape, dtype=torch.get_default_dtype(), device=parts[0][1].device)
        for index, drawn in parts:
            value[..., index] = drawn.to(value.dtype)
        return value


class TableLikelihood(Likelihood):
    """p(x | z) = Π_d p_{kind(d)}(x_d | z) over a table's columns (``schema``, a list of
    ``Column`` or of their dicts), grouped by kind; the decoder's outputs are the groups'
    outputs one after another, and so are the encoder's inputs.

    Args:
        schema: the columns, in the table's order.
    """

    name = "table"
    features_are_data = False

    def __init__(self, schema: list):
        if isinstance(schema, (str, bytes)) or not hasattr(schema, "__iter__"):
            raise bad_type("schema", schema, "a list of Column (or of their dicts)")
        self.schema = [Column.from_config(column) for column in schema]
        if not self.schema:
            raise bad_value("schema", schema, "at least one column")
        groups = {}
        for d, column in enumerate(self.schema):
            key = (column.kind, d) if column.kind == "categorical" else (column.kind,)
            groups.setdefault(key, []).append(d)
        parts = [_group_likelihood(key[0], [self.schema[d] for d in index])
                 for key, index in groups.items()]
        super().__init__(len(self.schema), sum(part.num_outputs for part in parts))
        self.parts = torch.nn.ModuleList(parts)
        fill_values = torch.empty(self.data_dim)
        for g, (part, index) in enumerate(zip(parts, groups.values())):
            self.register_buffer(f"index{g}", torch.tensor(index), persistent=False)
            fill_values[index] = part.fill_value
        self.register_buffer("fill_values", fill_values, persistent=False)

    @property
    def columns(self):
        return [column.name for column in self.schema]

    @property
    def index(self):
        """The columns of each group, in the order of ``parts``."""
        return [getattr(self, f"index{g}") for g in range(len(self.parts))]

    def _split(self, out):
        return zip(self.index, self.parts,
                   out.split([part.num_outputs for part in self.parts], dim=-1))

    def forward(self, out, mask=None):
        return TableDistribution([(index, part.elementwise(o)) for index, part, o
                                  in self._split(out)], self.fill_values, mask)

    def _scatter(self, values, like, batch_shape):
        result = like.new_empty(*batch_shape, self.data_dim)
        for index, value in values:
            result[..., index] = value
        return result

    def mean(self, out):
        return self._scatter([(index, part.mean(o)) for index, part, o in self._split(out)],
                             out, out.shape[:-1])

    def weighted_mean(self, out, weights):
        return self._scatter([(index, part.weighted_mean(o, weights))
                              for index, part, o in self._split(out)], out, out.shape[1:-1])

    def _per_part(self, x, method):
        return torch.cat([getattr(part, method)(x[..., index])
                          for index, part in zip(self.index, self.parts)], -1)

    def features(self, x):
        return self._per_part(x, "features")

    @property
    def num_features(self):
        return sum(part.num_features for part in self.parts)

    def feature_mask(self, mask):
        return self._per_part(mask, "feature_mask")

    def fill(self, x):
        return torch.where(torch.isnan(x), self.fill_values.to(x.dtype), x)

    def check(self, x, argument="x", columns=None):
        names = self.columns if columns is None else columns
        for index, part in zip(self.index, self.parts):
            index = index.to(x.device)
            part.check(x[:, index], argument, [names[i] for i in index.tolist()])
        return x
