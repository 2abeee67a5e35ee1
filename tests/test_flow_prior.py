"""The flow prior: N(0, I) at initialisation (the model is the standard VAE's exactly), a
normalized density once trained, every parameter learned, and a run that uses it end to end."""

import pyro
import pyro.poutine as poutine
import pytest
import torch

from pyro_lvm import VAE
from pyro_lvm.models.priors import FlowPrior, parse_prior


def _log_joint(model, x, z):
    conditioned = poutine.condition(model.model, data={"z": z})
    return poutine.trace(conditioned).get_trace(x).log_prob_sum()


@pytest.mark.parametrize("spec", ["maf*2", "lu,nsf-coupling", "nsf"])
def test_a_new_flow_prior_is_the_standard_vae_exactly(spec):
    x = torch.rand(7, 6).round()
    z = torch.randn(7, 3)
    torch.manual_seed(0)
    standard = VAE(6, 3, hidden=(16,))
    torch.manual_seed(0)
    flowed = VAE(6, 3, hidden=(16,), prior=f"flow:{spec}")
    pyro.clear_param_store()
    assert torch.allclose(_log_joint(flowed, x, z), _log_joint(standard, x, z), atol=1e-5)
    assert torch.allclose(flowed.prior().log_prob(z), standard.prior().log_prob(z), atol=1e-5)


def test_the_prior_is_normalized_after_its_parameters_move():
    torch.manual_seed(0)
    prior = FlowPrior("nsf-coupling,maf", 2, hidden=(8,))
    with torch.no_grad():
        for p in prior.parameters():
            p.normal_(0.0, 0.3)
    grid = torch.linspace(-9, 9, 451)
    points = torch.cartesian_prod(grid, grid)
    with torch.no_grad():
        mass = prior.distribution().log_prob(points).exp().sum() * (18 / 450) ** 2
    assert abs(float(mass) - 1.0) < 0.01
    draws = prior.distribution().sample((5,))
    assert draws.shape == (5, 2) and not draws.requires_grad


def test_every_flow_prior_parameter_is_trained_by_the_elbo():
    pyro.clear_param_store()
    torch.manual_seed(0)
    model = VAE(6, 2, hidden=(16,), prior="flow:maf")
    with torch.no_grad():  # off the identity start, whose zero output layer blocks the layers before it
        for p in model.flow_prior.parameters():
            p.add_(0.1 * torch.randn_like(p))
    x = torch.rand(8, 6).round()
    loss = pyro.infer.Trace_ELBO().differentiable_loss(model.model, model.guide, x)
    loss.backward()
    missing = [n for n, p in model.flow_prior.named_parameters() if p.grad is None or not p.grad.abs().sum() > 0]
    assert not missing, f"the ELBO does not reach {missing}"


@pytest.mark.parametrize("prior, match", [("flow:glow", r"prior: got 'flow:glow', expected flow:SPEC with a flow "
                                                        r"spec \(spec: got 'glow'"),
                                          ("flow", r"prior: got 'flow', expected one of")])
def test_bad_flow_priors_are_named(prior, match):
    with pytest.raises(ValueError, match=match):
        parse_prior(prior)


@pytest.mark.slow
def test_a_flow_prior_run_trains_reloads_evaluates_and_samples(tmp_path, capsys):
    import json

    from pyro_lvm.checkpoint import load_checkpoint
    from pyro_lvm.cli import main

    out = tmp_path / "flowprior"
    fast = ["--epochs", "2", "--hidden", "32", "--latent-dim", "2", "--eval-samples", "20", "--quiet",
            "--device", "cpu"]
    assert main(["train", "--out", str(out), "--prior", "flow:nsf-coupling,maf", *fast]) == 0
    state = load_checkpoint(out / "checkpoint.pt")
    assert state["model_config"]["prior"] == "flow:nsf-coupling,maf"
    assert any(key.startswith("flow_prior.") for key in state["model"])
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["test_elbo"] <= metrics["test_log_px"] < 0
    assert main(["evaluate", str(out), "-k", "30", "--device", "cpu"]) == 0
    evaluation = json.loads((out / "evaluation.json").read_text())
    assert evaluation["test_elbo"] <= evaluation["test_log_px"]
    assert main(["sample", str(out), "-n", "6", "--device", "cpu"]) == 0
