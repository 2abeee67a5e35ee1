"""Every model, guide, flow, evaluator and diagnostic on a CUDA device.

Deterministic quantities (log densities at fixed points, closed forms) must equal the CPU's for
the same parameters, in float64; random ones (importance sampling, PSIS, training) must keep
their closed forms and bounds; a training step synchronises with the host once; a run trained on
the device loads on the CPU.  Skipped without CUDA.  ``PYRO_LVM_TEST_DEVICE`` names another
device: ``cpu`` runs the same checks here (the comparisons are then trivial, the rest is not).
"""

import copy
import math
import os
import warnings

import pytest
import torch

from pyro_lvm import (PPCA, VAE, FlowDensity, GaussianMixture, TrainConfig, Trainer,
                      evaluate_per_datapoint, ppca_mle, psis_diagnostics, to_inference_data)
from pyro_lvm.diagnostics import encode
from pyro_lvm.run_reports import diagnose_run
from pyro_lvm.infer import log_weights
from pyro_lvm.runs import RunSpec, evaluate_run, load_run, train_run

DEVICE = torch.device(os.environ.get("PYRO_LVM_TEST_DEVICE", "cuda"))
pytestmark = [pytest.mark.cuda, pytest.mark.skipif(
    DEVICE.type == "cuda" and not torch.cuda.is_available(), reason="needs a CUDA device")]
F64 = torch.float64


def _on_both(module):
    """``(cpu, device)`` float64 copies of ``module`` with the same, perturbed, parameters
    (flow layers start at the identity)."""
    torch.manual_seed(0)
    cpu = module.to(F64)
    with torch.no_grad():
        for p in cpu.parameters():
            p.add_(0.1 * torch.randn_like(p))
    return cpu, copy.deepcopy(cpu).to(DEVICE)


def _same(on_device, on_cpu):
    assert on_device.device.type == DEVICE.type
    torch.testing.assert_close(on_device.cpu(), on_cpu, rtol=1e-9, atol=1e-9)


def _rows(n, d, seed=1):
    return torch.randn(n, d, generator=torch.Generator().manual_seed(seed), dtype=F64)


@pytest.mark.parametrize("guide", ["meanfield", "fullrank", "flow:iaf,lu,coupling,qr"])
def test_guide_and_decoder_densities_equal_the_cpu_ones(guide):
    cpu, dev = _on_both(VAE(10, latent_dim=3, hidden=(8,), guide=guide))
    x = (_rows(6, 10) > 0).to(F64)
    z = cpu.guide.distribution(x).sample()
    _same(dev.guide.distribution(x.to(DEVICE)).log_prob(z.to(DEVICE)),
          cpu.guide.distribution(x).log_prob(z))
    _same(dev.decode(z.to(DEVICE)).log_prob(x.to(DEVICE)), cpu.decode(z).log_prob(x))


def test_closed_forms_and_flow_densities_equal_the_cpu_ones():
    x = _rows(20, 4)
    on_device = x.to(DEVICE)
    cpu, dev = _on_both(PPCA(4, 2))
    _same(dev.log_marginal(on_device), cpu.log_marginal(x))
    for got, expected in zip(dev.posterior(on_device), cpu.posterior(x)):
        _same(got, expected)
    cpu, dev = _on_both(GaussianMixture(4, 3))
    _same(dev.log_marginal(on_device), cpu.log_marginal(x))
    _same(dev.responsibilities(on_device), cpu.responsibilities(x))
    cpu, dev = _on_both(FlowDensity.from_spec(4, "lu,maf,qr,coupling,iaf", hidden=(8,)))
    _same(dev.log_prob(on_device), cpu.log_prob(x))


def test_importance_sampling_psis_and_summaries_on_the_device():
    x = (_rows(200, 2) @ _rows(2, 5, seed=2) + 0.3 * _rows(200, 5, seed=3)).to(DEVICE)
    exact = PPCA(5, 2, guide="exact").to(F64).to(DEVICE).load_parameters(ppca_mle(x, 2))
    result = evaluate_per_datapoint(exact.model, exact.guide, x, num_samples=64)
    # With the exact posterior as proposal every weight is p(x): both estimates are exact.
    for key in ("log_px", "elbo"):
        torch.testing.assert_close(result[key], exact.log_marginal(x), rtol=0, atol=1e-8)
    assert psis_diagnostics(log_weights(exact.model, exact.guide, x[:8], 50))["khat"].max() \
        == -math.inf
    amortized = PPCA(5, 2).to(F64).to(DEVICE).load_parameters(ppca_mle(x, 2))
    psis = psis_diagnostics(log_weights(amortized.model, amortized.guide, x[:8], 400))
    assert torch.as_tensor(psis["khat"]).isfinite().all()
    idata = to_inference_data(amortized.model, amortized.guide, x[:8], num_samples=20,
                              num_predictive=5)
    assert idata.posterior["z"].shape == (1, 20, 8, 2)
    table = encode(amortized.guide, x[:8])
    assert table.shape == (8, 4) and table.notna().all().all()


def test_a_training_step_synchronises_with_the_host_once():
    if DEVICE.type != "cuda":
        pytest.skip("counts CUDA synchronisations (tests/test_sync.py counts them on the CPU)")
    x = (torch.rand(512, 12, generator=torch.Generator().manual_seed(0)) < 0.4).float()
    trainer = Trainer(VAE(12, latent_dim=2, hidden=(8,)), TrainConfig(epochs=1, batch_size=64),
                      device=DEVICE)
    trainer.fit(x, quiet=True)  # the first epoch checks, validates and traces
    trainer.config.epochs = 2
    torch.cuda.set_sync_debug_mode("warn")
    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            trainer.fit(x, quiet=True)
    finally:
        torch.cuda.set_sync_debug_mode("default")
    syncs = [w for w in caught if "synchroniz" in str(w.message)]
    # One NaN check a step, plus a few an epoch: the data's move to the device, the epoch's
    # permutation, the saved random state.
    assert len(syncs) <= 512 // 64 + 4, [str(w.message) for w in syncs]


@pytest.mark.parametrize("kind, data, options", [
    ("vae", "digits", {"guide": "flow:iaf", "latent_dim": 2}),
    ("flow", "moons", {"flow": "lu,coupling"}),
    ("ppca", "clusters", {"latent_dim": 1}),
    ("gmm", "clusters", {"components": 3}),
])
def test_every_model_kind_trains_on_the_device_and_loads_on_the_cpu(tmp_path, kind, data,
                                                                     options):
    spec = RunSpec(model=kind, data=data, hidden=(16,), eval_samples=50,
                   train=TrainConfig(epochs=2, batch_size=256), **options)
    run_dir, metrics = train_run(spec, out=tmp_path / kind, device=DEVICE, quiet=True)
    assert all(math.isfinite(v) for v in metrics.values())
    lvm, _, _ = load_run(run_dir, device="cpu")
    assert all(p.device.type == "cpu" for p in lvm.parameters())
    again = evaluate_run(run_dir, num_samples=50, device="cpu")
    if kind == "flow":  # no latent: the ELBO is log p(x) itself, the same on both devices
        assert again["test_elbo"] == pytest.approx(metrics["test_elbo"], rel=1e-4)
    else:
        assert again["test_elbo"] <= again["test_log_px"] + 1e-3
    if kind == "vae":  # the diagnostics (PSIS, collapse, pictures, report) on the device
        report = diagnose_run(run_dir, device=DEVICE, quiet=True, num_samples=200)["report"]
        assert os.path.getsize(report) > 1000


@pytest.mark.parametrize("guide", ["meanfield", "fullrank"])
def test_the_gap_split_runs_on_the_device(guide):
    from pyro_lvm.infer import inference_gaps
    vae = VAE(10, latent_dim=2, hidden=(8,), guide=guide).to(DEVICE)
    x = (_rows(12, 10) > 0).float().to(DEVICE)
    gaps = inference_gaps(vae.model, vae.guide, x, num_samples=20, steps=5, quiet=True)
    assert gaps["log_px"].device.type == DEVICE.type
    torch.testing.assert_close(gaps["approximation_gap"] + gaps["amortization_gap"],
                               gaps["log_px"] - gaps["elbo_amortized"])
