"""Samples are draws x ~ p(x) unless decoder means are asked for, and say which they are."""

import numpy as np
import pytest
import torch

from pyro_lvm import PPCA, VAE
from pyro_lvm.cli import main


def test_ppca_draws_have_the_models_covariance_and_means_do_not():
    torch.manual_seed(0)
    ppca = PPCA(3, 1)
    with torch.no_grad():
        ppca.weight.copy_(torch.tensor([[1.0], [0.5], [-1.0]]))
        ppca.raw_noise_scale.fill_(0.0)
    sigma2 = float(ppca.noise_scale) ** 2
    expected = ppca.weight @ ppca.weight.T
    draws = ppca.generate(40000)
    means = ppca.generate(40000, means=True)
    assert torch.allclose(torch.cov(draws.T), expected + sigma2 * torch.eye(3), atol=0.05)
    assert torch.allclose(torch.cov(means.T), expected.detach(), atol=0.05)


def test_vae_draws_are_pixels_and_means_are_probabilities():
    torch.manual_seed(0)
    vae = VAE(12, latent_dim=2, hidden=(8,))
    draws, means = vae.generate(50), vae.generate(50, means=True)
    assert set(draws.unique().tolist()) <= {0.0, 1.0}
    assert ((means > 0) & (means < 1)).all() and not set(means.unique().tolist()) <= {0.0, 1.0}


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    root = tmp_path_factory.mktemp("runs")
    main(["train", "--epochs", "1", "--eval-samples", "5", "--out", str(root / "vae"),
          "--quiet"])
    main(["train", "flow", "--data", "moons", "--epochs", "1", "--out", str(root / "flow"),
          "--quiet"])
    return root


def test_sample_draws_by_default_and_means_on_request(runs, capsys):
    from matplotlib.image import imread
    main(["sample", str(runs / "vae"), "-n", "64"])
    draws = np.load(runs / "vae" / "samples-64.npy")
    assert set(np.unique(draws).tolist()) <= {0.0, 1.0}
    height, width = imread(runs / "vae" / "samples-64.png").shape[:2]
    assert abs(height - width) < 0.2 * width  # 8 x 8, not a ragged 10-wide grid
    main(["sample", str(runs / "vae"), "-n", "10", "--means", "--out",
          str(runs / "vae" / "means.png")])
    means = np.load(runs / "vae" / "means.npy")
    assert ((means > 0) & (means < 1)).any()


def test_means_are_refused_for_a_model_without_a_decoder(runs, capsys):
    with pytest.raises(SystemExit):
        main(["sample", str(runs / "flow"), "--means"])
    assert "no decoder means" in capsys.readouterr().err
