"""Observation models p_θ(x | z): a decoder output becomes a distribution over x.

Each likelihood is a ``torch.nn.Module`` (``base.Likelihood``) that turns the decoder's output
(``num_outputs`` numbers per row) into a Pyro distribution with event shape ``(data_dim,)``,
optionally masked to the observed entries.  ``LIKELIHOODS`` names those a whole matrix can
have; a table has one per column group (``TableLikelihood``).  See ``docs/table.md``.
"""

from ..errors import bad_value
from .base import Likelihood, Support
from .continuous import (BetaLikelihood, ContinuousBernoulli, ContinuousBernoulliLikelihood,
                         GaussianLikelihood, StudentTLikelihood)
from .discrete import (BernoulliLikelihood, CategoricalLikelihood, NegativeBinomialLikelihood,
                       PoissonLikelihood, ZeroInflatedNegativeBinomialLikelihood)
from .table import COLUMN_KINDS, LIKELIHOODS, Column, TableDistribution, TableLikelihood

__all__ = ["COLUMN_KINDS", "LIKELIHOODS", "BernoulliLikelihood", "BetaLikelihood",
           "CategoricalLikelihood", "Column", "ContinuousBernoulli",
           "ContinuousBernoulliLikelihood", "GaussianLikelihood", "Likelihood",
           "NegativeBinomialLikelihood", "PoissonLikelihood", "StudentTLikelihood", "Support",
           "TableDistribution", "TableLikelihood", "ZeroInflatedNegativeBinomialLikelihood",
           "make_likelihood", "support_of"]


def make_likelihood(likelihood, data_dim, scale=None):
    """The likelihood of ``data_dim`` features: ``likelihood`` is a name in ``LIKELIHOODS``
    (``scale`` fixes a Gaussian's σ) or a table's schema (a list of ``Column`` or their
    dicts, one per feature)."""
    if not isinstance(likelihood, str):
        table = TableLikelihood(likelihood)
        if table.data_dim != data_dim:
            raise bad_value("data_dim", data_dim, f"the {table.data_dim} columns of the schema")
        if scale is not None:
            raise bad_value("scale", scale, "None with a table's schema (each real column "
                            "learns its scale)")
        return table
    if likelihood not in LIKELIHOODS:
        raise bad_value("likelihood", likelihood, f"one of {sorted(LIKELIHOODS)} or a table's "
                        "schema")
    if likelihood == "gaussian":
        return GaussianLikelihood(data_dim, scale)
    if scale is not None:
        raise bad_value("scale", scale, f"None: a {likelihood} likelihood has no fixed scale "
                        "(only gaussian has)")
    return LIKELIHOODS[likelihood](data_dim)


def support_of(likelihood):
    """The ``Support`` of every feature under the likelihood called ``likelihood``."""
    if likelihood not in LIKELIHOODS:
        raise bad_value("likelihood", likelihood, f"one of {sorted(LIKELIHOODS)}")
    return LIKELIHOODS[likelihood].support
