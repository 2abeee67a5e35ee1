"""A normalizing flow on images of discrete pixels, with uniform dequantization as its guide.

Pixels take ``L`` levels, stored as intensities ``x = k / (L − 1)``, k ∈ {0, …, L − 1}.  A
flow density p(u) on u ∈ [0, 1]^D (``flows.image.image_flow``) gives the pixels the
probability of their cell, P(k) = ∫_{cell(k)} p(u) du with cell(k) = Π_d [k_d / L, (k_d + 1) / L).
As a latent variable model u is the latent and x = ⌊L u⌋ / (L − 1) its observation, so that
P(x | u) = 1 on the cell and 0 elsewhere; the guide q(u | x) is uniform on the cell (density
L^D), and the ELBO is the dequantization bound of Theis et al. (2016):

    log P(x) ≥ E_{u ~ q}[log p(u)] − D log L,

the bound RealNVP and Glow train on.  Its evaluation in bits per dimension,
−log P(x) / (D log 2), is ``infer.evaluation.bits_per_dim`` of the evaluators' estimates
(importance sampling over u tightens it).  A better guide q(u | x) (a learned dequantization,
as Flow++'s) is any guide of your own with a site ``"u"`` inside the data plate.

References:
    Theis, van den Oord & Bethge (2016), A note on the evaluation of generative models.
    Dinh, Sohl-Dickstein & Bengio (2017), Density estimation using Real NVP.
"""

import math

import pyro
import pyro.distributions as dist
import torch
from pyro.distributions import constraints
from torch import nn

from ..checks import check_int
from ..errors import bad_value
from ..flows.distribution import FlowDistribution
from ..flows.image import check_image_shape, image_flow
from ..params import register
from ..plates import data_plate


def levels_of(x, levels):
    """The pixel levels k = round(x (L − 1)) of intensities ``x``; refuses values that are not
    on the grid k / (L − 1), naming the first."""
    k = torch.round(x * (levels - 1))
    bad = (x - k / (levels - 1)).abs() > 1e-4 / levels
    if bool(bad.any()) or bool(((k < 0) | (k > levels - 1)).any()):
        row, col = (int(i) for i in (bad | (k < 0) | (k > levels - 1)).nonzero()[0])
        raise bad_value("x", f"{float(x[row, col]):g} in row {row}, column {col}",
                        f"intensities k / {levels - 1} for integer levels k in 0..{levels - 1}")
    return k


def _in_cells(u, k, levels, tolerance):
    """Whether every u_d lies in its cell [k_d / L, (k_d + 1) / L], up to ``tolerance`` cells
    (floating point puts (k + ε) / L on the upper edge now and then)."""
    position = u * levels - k
    return ((position >= -tolerance) & (position <= 1 + tolerance)).all(-1)


class UniformCells(dist.TorchDistribution):
    """q(u | x): u_d uniform on the cell [k_d / L, (k_d + 1) / L) of pixel level k_d, u =
    (k + ε) / L with ε ~ U(0, 1)^D (reparametrized); log q = D log L inside the cells (edges
    forgiven as in ``PixelCells``), −∞ outside.  Event shape ``(D,)``."""

    arg_constraints = {}
    support = constraints.real_vector
    has_rsample = True

    def __init__(self, k, levels, tolerance=1e-4, validate_args=None):
        self.k, self.levels, self.tolerance = k, levels, tolerance
        super().__init__(k.shape[:-1], k.shape[-1:], validate_args=validate_args)

    def expand(self, batch_shape, _instance=None):
        k = self.k.expand(*batch_shape, *self.event_shape)
        return UniformCells(k, self.levels, self.tolerance, validate_args=False)

    def rsample(self, sample_shape=torch.Size()):
        k = self.k.expand(*sample_shape, *self.k.shape)
        return (k + torch.rand_like(k)) / self.levels

    def log_prob(self, value):
        inside = _in_cells(value, self.k, self.levels, self.tolerance)
        log_density = self.event_shape[0] * math.log(self.levels)
        return torch.where(inside, log_density, -math.inf).to(value.dtype)


class PixelCells(dist.TorchDistribution):
    """P(x | u): 1 when every intensity x_d = k_d / (L − 1) has its cell
    [k_d / L, (k_d + 1) / L) around u_d, else 0 (a round-off of ``tolerance`` cells allowed
    at the edges); ``sample`` gives x = ⌊L u⌋ / (L − 1), clamped to the levels.  Event shape
    ``(D,)``."""

    arg_constraints = {}
    support = constraints.unit_interval
    has_rsample = False

    def __init__(self, u, levels, tolerance=1e-4, validate_args=None):
        self.u, self.levels, self.tolerance = u, levels, tolerance
        super().__init__(u.shape[:-1], u.shape[-1:], validate_args=validate_args)

    def expand(self, batch_shape, _instance=None):
        u = self.u.expand(*batch_shape, *self.event_shape)
        return PixelCells(u, self.levels, self.tolerance, validate_args=False)

    def sample(self, sample_shape=torch.Size()):
        u = self.u.expand(*sample_shape, *self.u.shape)
        k = torch.floor(u * self.levels).clamp(0, self.levels - 1)
        return k / (self.levels - 1)

    def log_prob(self, value):
        inside = _in_cells(self.u, torch.round(value * (self.levels - 1)), self.levels,
                           self.tolerance)
        return torch.where(inside, 0.0, -math.inf).to(self.u.dtype)


class ImageFlow(nn.Module):
    """p(x) of images with ``levels`` intensity levels: the flow ``layers`` on dequantized
    pixels u ∈ [0, 1]^D (``image_flow`` by default), uniform dequantization as the guide (see
    the module docstring).

    ``model(x)``: u ~ p(u) (site ``"u"``), then x observed under ``PixelCells`` (site ``"x"``);
    ``guide(x)``: u ~ Uniform(k / L, (k + 1) / L) (``UniformCells``), no parameters.  Rows ``x`` are flattened
    images of intensities k / (L − 1) in [0, 1] (the binarized or raw MNIST of the data
    loaders, without binarizing: L = 256).

    Args:
        image_shape: ``(C, H, W)``.
        layers: flow layers in Pyro's order (base to data) on vectors of C·H·W, ending in the
            pixels' interval (``None``: ``image_flow(image_shape, **options)``).
        levels: L, the intensity levels (256 for 8-bit images).
        scales: ``image_flow``'s squeezes.
        **options: ``image_flow``'s other options (``steps``, ``hidden_channels``, ...).
    """

    max_plate_nesting = 1  # the data plate

    def __init__(self, image_shape: tuple = (1, 28, 28), layers: list | None = None,
                 levels: int = 256, scales: int = 2, **options: object):
        super().__init__()
        self.image_shape = check_image_shape(image_shape)
        self.dim = math.prod(self.image_shape)
        self.levels = check_int("levels", levels, minimum=2)
        if layers is None:
            layers = image_flow(self.image_shape, scales, **options)
        self.layers = nn.ModuleList(layers)
        self.register_buffer("base_loc", torch.zeros(self.dim), persistent=False)
        self.register_buffer("base_scale", torch.ones(self.dim), persistent=False)

    def distribution(self):
        """p(u): N(0, I) through the layers, a ``FlowDistribution`` with event shape ``(D,)``."""
        base = dist.Normal(self.base_loc, self.base_scale, validate_args=False).to_event(1)
        return FlowDistribution(base, list(self.layers), validate_args=False)

    def model(self, x, indices=None, num_data=None):
        register(self)
        with data_plate(x, indices, num_data):
            u = pyro.sample("u", self.distribution())
            return pyro.sample("x", PixelCells(u, self.levels), obs=x)

    def guide(self, x, indices=None, num_data=None):
        k = levels_of(x, self.levels)
        with data_plate(x, indices, num_data):
            pyro.sample("u", UniformCells(k, self.levels))

    @torch.no_grad()
    def generate(self, num_samples):
        """``num_samples`` images x = ⌊L u⌋ / (L − 1), u ~ p(u), as rows of D intensities."""
        u = self.distribution().sample((check_int("num_samples", num_samples),))
        return PixelCells(u, self.levels).sample()
