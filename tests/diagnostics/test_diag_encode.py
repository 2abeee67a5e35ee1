"""encode: exact posterior means where they are known, batching, draws, guides without moments."""

import pandas as pd
import pyro
import pyro.distributions as dist
import pytest
import torch
from conftest import GaussianGuide
from torch import nn

from pyro_lvm.diagnostics import encode
from pyro_lvm.guides import LocalNormalGuide
from pyro_lvm.guides.flow import FlowGuide
from pyro_lvm.models.ppca import PPCA, PPCAPosteriorGuide, ppca_mle
from pyro_lvm.plates import data_plate


def columns(table, names):
    return torch.tensor(table[names].to_numpy())


def test_posterior_mean_and_sd_are_the_exact_ones(linear_gaussian):
    lg, x = linear_gaussian
    table = encode(GaussianGuide(lg.posterior), x, batch_size=7)
    mean, cov = lg.posterior(x)
    assert list(table.columns) == ["z0_mean", "z1_mean", "z0_sd", "z1_sd"]
    assert len(table) == x.shape[0]
    torch.testing.assert_close(columns(table, ["z0_mean", "z1_mean"]), mean)
    torch.testing.assert_close(columns(table, ["z0_sd", "z1_sd"]),
                               cov.diagonal().sqrt().expand_as(mean))


def test_ppca_posterior_means_match_the_closed_form():
    torch.manual_seed(0)
    x = torch.randn(50, 6) @ torch.randn(6, 6) + torch.randn(6)
    ppca = PPCA(6, 2).load_parameters(ppca_mle(x, 2))
    table = encode(PPCAPosteriorGuide(ppca), x, batch_size=16)
    mean, cov = ppca.posterior(x)
    torch.testing.assert_close(columns(table, ["z0_mean", "z1_mean"]), mean)
    torch.testing.assert_close(columns(table, ["z0_sd", "z1_sd"]),
                               cov.diagonal().sqrt().expand_as(mean))


def test_batches_give_the_answer_of_one_batch_and_pass_row_indices():
    torch.manual_seed(0)
    guide = LocalNormalGuide(23, 3)  # picks its parameters by the rows' indices
    with torch.no_grad():
        guide.loc.normal_()
    x = torch.zeros(23, 4)
    one = encode(guide, x, batch_size=100)
    torch.testing.assert_close(columns(one, ["z0_mean", "z1_mean", "z2_mean"]), guide.loc.detach())
    for batch_size in (1, 5, 22):
        pd.testing.assert_frame_equal(encode(guide, x, batch_size=batch_size), one)


class AffineFlowGuide(nn.Module):
    """q(z | x) = the push-forward of N(0, I) through z = μ + σ ε: a transformed distribution,
    which (like a flow guide) has no closed-form mean."""

    loc, scale = torch.tensor([1.0, -2.0]), torch.tensor([0.5, 2.0])

    def forward(self, x, indices=None, num_data=None):
        base = dist.Normal(x.new_zeros(x.shape[0], 2), 1.0)
        q = dist.TransformedDistribution(base, [dist.transforms.AffineTransform(self.loc,
                                                                                self.scale)])
        with data_plate(x, indices, num_data):
            pyro.sample("z", q.to_event(1))


def test_a_guide_without_moments_is_encoded_by_monte_carlo():
    guide, num_samples = AffineFlowGuide(), 4000
    with pytest.raises(NotImplementedError):
        dist.TransformedDistribution(dist.Normal(0.0, 1.0), []).mean
    table = encode(guide, torch.zeros(3, 1), num_samples=num_samples)
    means = columns(table, ["z0_mean", "z1_mean"])
    sds = columns(table, ["z0_sd", "z1_sd"])
    # Standard errors: σ/√S for the mean, about σ/√(2S) for the sd; allow 5 of them.
    assert ((means - guide.loc).abs() < 5 * guide.scale / num_samples ** 0.5).all()
    assert ((sds / guide.scale - 1).abs() < 5 / (2 * num_samples) ** 0.5).all()


def test_the_flow_guide_is_encoded_within_monte_carlo_error():
    torch.manual_seed(0)
    guide = FlowGuide(4, 2, spec="iaf*2", hidden=(8,), context_dim=4, flow_hidden=(8,))
    x, num_samples = torch.rand(5, 4), 2000
    table = encode(guide, x, num_samples=num_samples)
    with torch.no_grad():
        reference = guide.distribution(x).sample((8000,))
    mean, sd = reference.mean(0), reference.std(0)
    error = 5 * sd * (1 / num_samples + 1 / 8000) ** 0.5
    assert ((columns(table, ["z0_mean", "z1_mean"]) - mean).abs() < error).all()
    assert ((columns(table, ["z0_sd", "z1_sd"]) / sd - 1).abs() < 0.1).all()


def test_sample_writes_one_draw_per_row(linear_gaussian):
    lg, x = linear_gaussian
    guide = GaussianGuide(lg.posterior, shift=30.0)  # draws far from 0: clearly not zeros
    table = encode(guide, x, sample=True, batch_size=9)
    assert list(table.columns) == ["z0", "z1"] and len(table) == x.shape[0]
    mean, cov = lg.posterior(x)
    shifted = mean + 30 * cov.diagonal().sqrt()
    z = (columns(table, list(table.columns)) - shifted) / cov.diagonal().sqrt()
    assert z.abs().max() < 5 and len(set(table["z0"])) == x.shape[0]


def test_errors_name_the_argument(linear_gaussian):
    lg, x = linear_gaussian
    with pytest.raises(ValueError, match="site: got 'u'.*one of \\['z'\\]"):
        encode(GaussianGuide(lg.posterior), x, site="u")
    with pytest.raises(ValueError, match="batch_size: got 0"):
        encode(GaussianGuide(lg.posterior), x, batch_size=0)
    with pytest.raises(ValueError, match="x: got .*shape \\(40, 3\\).*the guide can be "
                                         "evaluated on"):
        encode(GaussianGuide(lg.posterior), x[:, :3])
