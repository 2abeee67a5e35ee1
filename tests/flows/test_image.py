"""Image flows: RealNVP's masked couplings and squeeze, the 1 × 1 LU convolution, the logit, and
uniform dequantization with its bits per dimension, against independent references."""

import math

import pyro
import pytest
import torch
from torch.nn import functional as F

from pyro_lvm.flows.image import (ChannelLU, ImageCoupling, Logit, Squeeze, channel_mask,
                                  checkerboard_mask, image_flow)
from pyro_lvm.infer.evaluation import bits_per_dim, evaluate_per_datapoint
from pyro_lvm.models.image_flow import ImageFlow, PixelCells, UniformCells, levels_of

F64 = torch.float64
SHAPE = (2, 4, 4)


def _perturbed(layer, seed=0, scale=0.3):
    """``layer`` in float64 with every parameter moved off its identity start."""
    torch.manual_seed(seed)
    layer = layer.to(F64)
    with torch.no_grad():
        for parameter in layer.parameters():
            parameter.add_(scale * torch.randn_like(parameter))
    return layer


LAYERS = {
    "checkerboard": lambda: ImageCoupling(SHAPE, checkerboard_mask(SHAPE, 0), 4),
    "checkerboard-odd": lambda: ImageCoupling(SHAPE, checkerboard_mask(SHAPE, 1), 4),
    "channel": lambda: ImageCoupling(SHAPE, channel_mask(SHAPE, 1), 4),
    "squeeze": lambda: Squeeze(SHAPE),
    "channel-lu": lambda: ChannelLU(SHAPE),
    "logit": lambda: Logit(32, alpha=0.05),
}


def _flow(layers, x):
    for layer in layers:
        x = layer(x)
    return x


@pytest.mark.parametrize("name", LAYERS)
def test_log_det_is_autograd_and_the_layer_inverts(name):
    layer = _perturbed(LAYERS[name]())
    x = torch.randn(32, dtype=F64, generator=torch.Generator().manual_seed(2))
    y, log_det = layer.call_and_ladj(x)
    jacobian = torch.autograd.functional.jacobian(layer._call, x)
    assert torch.allclose(log_det, torch.linalg.slogdet(jacobian)[1], atol=1e-10)
    back, inverse_log_det = layer.inv_and_ladj(y)
    assert torch.allclose(back, x, atol=1e-10)
    assert torch.allclose(inverse_log_det, -log_det, atol=1e-10)
    assert torch.allclose(layer.log_abs_det_jacobian(x, y), log_det, atol=1e-10)


def test_whole_flow_log_det_is_autograd_on_a_tiny_image_in_float64():
    layers = [_perturbed(layer, seed=i, scale=0.1) for i, layer in
              enumerate(image_flow((1, 4, 4), scales=1, steps=2, hidden_channels=4))]
    z = 0.5 * torch.randn(16, dtype=F64, generator=torch.Generator().manual_seed(3))
    jacobian = torch.autograd.functional.jacobian(lambda v: _flow(layers, v), z)
    total, v = torch.zeros((), dtype=F64), z
    for layer in layers:
        v, log_det = layer.call_and_ladj(v)
        total = total + log_det
    assert torch.allclose(total, torch.linalg.slogdet(jacobian)[1], atol=1e-9)
    for layer in reversed(layers):
        v = layer.inv(v)
    assert torch.allclose(v, z, atol=1e-9)


def test_squeeze_is_pixel_unshuffle():
    """The base side of ``Squeeze`` is torch's space-to-depth: channel 4c + 2a + b holds the
    pixels (2i + a, 2j + b) of channel c."""
    image = torch.randn(3, *SHAPE)
    squeezed = Squeeze(SHAPE).inv(image.flatten(1))
    assert torch.equal(squeezed, F.pixel_unshuffle(image, 2).flatten(1))


def test_channel_lu_is_a_one_by_one_convolution():
    layer = _perturbed(ChannelLU(SHAPE))
    x = torch.randn(5, *SHAPE, dtype=F64)
    weight = layer.linear.weight()
    expected = F.conv2d(x, weight[:, :, None, None]).flatten(1)
    assert torch.allclose(layer(x.flatten(1)), expected, atol=1e-12)
    assert torch.allclose(layer.log_abs_det_jacobian(x.flatten(1), expected),
                          16 * torch.linalg.slogdet(weight)[1].expand(5), atol=1e-10)


def test_masks():
    board = checkerboard_mask((1, 3, 3), 0).reshape(3, 3)
    assert board.tolist() == [[True, False, True], [False, True, False], [True, False, True]]
    assert torch.equal(checkerboard_mask(SHAPE, 1), ~checkerboard_mask(SHAPE, 0))
    halves = channel_mask(SHAPE, 0).reshape(SHAPE)
    assert halves[0].all() and not halves[1].any()
    with pytest.raises(ValueError, match="2 channels"):
        channel_mask((1, 4, 4))


def test_couplings_keep_their_kept_pixels():
    layer = _perturbed(ImageCoupling(SHAPE, checkerboard_mask(SHAPE, 0), 4))
    x = torch.randn(7, 32, dtype=F64)
    kept = checkerboard_mask(SHAPE, 0)
    y = layer(x)
    assert torch.equal(y[:, kept], x[:, kept]) and not torch.allclose(y[:, ~kept], x[:, ~kept])


def test_a_new_flow_starts_as_its_squeezes_before_the_logit():
    layers = image_flow((1, 8, 8), scales=2, steps=1, hidden_channels=4)
    assert isinstance(layers[-1], Logit)
    assert sum(isinstance(layer, Squeeze) for layer in layers) == 2
    z = torch.randn(3, 64)
    squeezes = [layer for layer in layers if isinstance(layer, Squeeze)]
    assert torch.allclose(_flow(layers[:-1], z), _flow(squeezes, z), atol=1e-6)


def test_bad_shapes_are_refused():
    with pytest.raises(ValueError, match="even"):
        Squeeze((1, 5, 4))
    with pytest.raises(ValueError, match="image_shape"):
        image_flow((1, 28))
    with pytest.raises(ValueError, match="alpha"):
        Logit(4, alpha=0.5)


def _exact_log_probability(x, levels, alpha):
    """log P(x) of the flow that is the logit alone: each pixel's cell [k/L, (k+1)/L) maps to
    y = logit(α + (1 − 2α) u) and y ~ N(0, 1), so P(k) = Φ(y_hi) − Φ(y_lo)."""
    k = torch.round(x * (levels - 1))
    normal = torch.distributions.Normal(torch.zeros((), dtype=F64), torch.ones((), dtype=F64))

    def y(u):
        s = alpha + (1 - 2 * alpha) * u
        return torch.log(s) - torch.log1p(-s)

    return torch.log(normal.cdf(y((k + 1) / levels)) - normal.cdf(y(k / levels))).sum(-1)


@pytest.mark.parametrize("levels, tolerance", [(4, 2e-2), (256, 2e-3)])
def test_dequantized_bound_and_bits_per_dim_against_the_closed_form(levels, tolerance):
    """The uniform-dequantization ELBO is below the exact log P(x); importance sampling over
    u reaches it; bits per dimension are −log P / (D log 2)."""
    pyro.set_rng_seed(0)
    model = ImageFlow((1, 2, 2), layers=[Logit(4, alpha=0.05)], levels=levels).double()
    k = torch.tensor([[0, 1, levels - 1, levels // 2], [levels - 2, 0, 0, 1]], dtype=F64)
    x = k / (levels - 1)
    exact = _exact_log_probability(x, levels, 0.05)
    result = evaluate_per_datapoint(model.model, model.guide, x, num_samples=20000)
    assert (result["elbo"] < exact + 1e-9).all()
    assert torch.allclose(result["log_px"], exact, atol=tolerance)
    assert torch.allclose(bits_per_dim(result["log_px"], 4), -exact / (4 * math.log(2)),
                          atol=tolerance)


def test_uniform_pixels_cost_log2_levels_bits():
    """A density uniform on [0, 1]^D gives every cell L^−D: exactly log2 L bits per dimension."""
    levels, dim = 256, 784
    log_px = torch.tensor(-dim * math.log(levels))
    assert bits_per_dim(log_px, dim).item() == pytest.approx(8.0, abs=1e-12)


def test_the_guide_draws_inside_each_pixels_cell_and_cells_give_back_the_pixels():
    pyro.set_rng_seed(1)
    model = ImageFlow((1, 4, 4), scales=1, steps=1, hidden_channels=4)
    x = torch.randint(0, 256, (50, 16)) / 255.0
    trace = pyro.poutine.trace(model.guide).get_trace(x)
    u = trace.nodes["u"]["value"]
    k = torch.round(x * 255)
    assert ((u >= k / 256) & (u <= (k + 1) / 256)).all()
    assert torch.allclose(trace.nodes["u"]["fn"].log_prob(u), torch.tensor(16 * math.log(256)))
    cells = PixelCells(u, 256)
    assert torch.equal(cells.sample(), x) and (cells.log_prob(x) == 0).all()
    assert (cells.log_prob(torch.roll(x, 1, 0)) == -math.inf).any()
    assert model.generate(3).shape == (3, 16)


def test_a_draw_on_the_upper_edge_of_its_cell_keeps_its_density():
    """Floating point rounds (k + ε) / L up to (k + 1) / L now and then: that draw must not get
    log q = −∞ (a NaN ELBO)."""
    k = torch.tensor([[3.0, 255.0]])
    cells = UniformCells(k, 256)
    edge = (k + 1) / 256
    assert torch.isfinite(cells.log_prob(edge)).all()
    assert PixelCells(edge, 256).log_prob(k / 255).item() == 0.0
    assert cells.log_prob(edge + 0.01).item() == -math.inf


def test_intensities_off_the_grid_are_refused():
    with pytest.raises(ValueError, match="row 1, column 2"):
        levels_of(torch.tensor([[0.0, 1.0, 1.0], [0.0, 1.0, 0.3]]), 2)


def test_a_plain_svi_loop_trains_every_parameter_and_lowers_bits():
    pyro.set_rng_seed(0)
    model = ImageFlow((1, 4, 4), scales=1, steps=2, hidden_channels=4)
    x = (torch.rand(64, 16, generator=torch.Generator().manual_seed(0)) > 0.7).double().float()
    start = {name: p.detach().clone() for name, p in model.named_parameters()}
    before = bits_per_dim(evaluate_per_datapoint(model.model, model.guide, x, 4)["elbo"], 16).mean()
    svi = pyro.infer.SVI(model.model, model.guide, pyro.optim.Adam({"lr": 1e-2}),
                         pyro.infer.Trace_ELBO())
    for _ in range(40):
        svi.step(x)
    after = bits_per_dim(evaluate_per_datapoint(model.model, model.guide, x, 4)["elbo"], 16).mean()
    frozen = [name for name, p in model.named_parameters() if torch.equal(p, start[name])]
    assert not frozen and after < before - 1.0
