"""psis_diagnostics takes to_inference_data's own output (issue 18, item 8): the InferenceData,
its sample_stats group, the log_weight variable or its (chain, draw, obs) values give the same
answer as the plain (draws, observations) array."""

import numpy as np
import pyro
import pyro.distributions as dist
import pytest
import torch

from pyro_lvm.diagnostics import psis_diagnostics, to_inference_data
from pyro_lvm.plates import data_plate

DRAWS = 2200  # ≥ draws_needed() = 2155: no warning


def model(x, indices=None, num_data=None):
    with data_plate(x, indices, num_data):
        z = pyro.sample("z", dist.Normal(x.new_zeros(2), 1.0).to_event(1))
        pyro.sample("x", dist.Normal(z, 0.5).to_event(1), obs=x)


def guide(x, indices=None, num_data=None):
    """Too narrow and shifted: k̂ well above −∞, so the Pareto fit runs."""
    with data_plate(x, indices, num_data):
        pyro.sample("z", dist.Normal(0.5 * x, 0.3).to_event(1))


@pytest.fixture(scope="module")
def idata():
    pyro.set_rng_seed(0)
    return to_inference_data(model, guide, torch.randn(6, 2), num_samples=DRAWS,
                             num_predictive=0)


def _same(result, expected):
    assert set(result) == set(expected) and result["num_draws"] == expected["num_draws"]
    for key in ("khat", "ess", "log_weights"):
        np.testing.assert_array_equal(result[key], expected[key])


def test_inference_data_gives_the_same_answer_as_the_two_dimensional_array(idata):
    values = idata["sample_stats"]["log_weight"].values
    assert values.shape == (1, DRAWS, 6)  # (chain, draw, observation)
    expected = psis_diagnostics(values[0])
    assert expected["khat"].shape == (6,) and np.isfinite(expected["khat"]).all()
    assert expected["log_weights"].shape == (DRAWS, 6) and expected["num_draws"] == DRAWS
    for given in (idata, idata["sample_stats"], idata["sample_stats"]["log_weight"], values,
                  torch.from_numpy(values)):
        _same(psis_diagnostics(given), expected)


def test_chains_are_pooled(idata):
    values = idata["sample_stats"]["log_weight"].values[0]
    two_chains = values.reshape(2, DRAWS // 2, 6)
    _same(psis_diagnostics(two_chains), psis_diagnostics(values))


def test_what_it_cannot_read_is_named(idata):
    with pytest.raises(ValueError, match=r"log_weights: got \(2200,\), expected a shape"):
        psis_diagnostics(np.zeros(DRAWS))
    with pytest.raises(ValueError, match="log_weights: got .*without sample_stats.log_weight"):
        psis_diagnostics(idata["posterior"])
