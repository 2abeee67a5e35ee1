"""Probabilistic PCA (Tipping & Bishop, 1999): the lecture's "PCA model" as a model/guide pair.

    z ~ N(0, I_k),   x | z ~ N(W z + μ, σ² I_d),   so   p(x) = N(x | μ, C),  C = W Wᵀ + σ² I_d.

Everything about it is known in closed form: the marginal log p(x) (``PPCA.log_marginal``),
the posterior p(z | x) = N(M⁻¹ Wᵀ (x − μ), σ² M⁻¹) with M = Wᵀ W + σ² I_k
(``PPCA.posterior``, ``PPCAPosteriorGuide``) and the maximum-likelihood parameters
(``ppca_mle``).  That makes it the reference against which SVI and the evaluators are tested.
"""

import math
from typing import NamedTuple

import pyro
import pyro.distributions as dist
import torch
from torch import nn

from ..data import validate_data
from ..checks import check_int
from ..errors import bad_type, bad_value
from ..nn import inverse_positive, positive
from ..params import register
from ..plates import data_plate


class PPCAParameters(NamedTuple):
    """W of shape ``(d, k)``, μ of shape ``(d,)`` and the noise scale σ (a 0-d tensor)."""

    weight: torch.Tensor
    loc: torch.Tensor
    noise_scale: torch.Tensor


def _check_dims(data_dim, latent_dim):
    data_dim = check_int("data_dim", data_dim, 2)
    latent_dim = check_int("latent_dim", latent_dim, 1)
    if latent_dim >= data_dim:
        raise bad_value("latent_dim", latent_dim,
                        f"an integer in [1, data_dim - 1] = [1, {data_dim - 1}]")
    return data_dim, latent_dim


def _check_x(x, data_dim, argument="x"):
    x = validate_data(x, argument=argument)
    if x.shape[1] != data_dim:
        raise bad_value(argument, tuple(x.shape), f"a tensor of shape (n, {data_dim})")
    return x


class LinearGaussianGuide(nn.Module):
    """q_φ(z | x) = N(z | A x + b, diag s²): an amortized linear encoder with a shared scale.

    The exact PPCA posterior has this form, with a full covariance σ² M⁻¹ that does not depend on
    x; the diagonal s² matches it whenever Wᵀ W is diagonal, which the maximum-likelihood W can
    always be rotated to (Tipping & Bishop's W = U_k (Λ_k − σ² I)^{1/2}).
    """

    def __init__(self, data_dim, latent_dim):
        super().__init__()
        self.data_dim, self.latent_dim = _check_dims(data_dim, latent_dim)
        self.linear = nn.Linear(data_dim, latent_dim)
        self.raw_scale = nn.Parameter(torch.zeros(latent_dim))

    def distribution(self, x):
        """q_φ(z | x) with event shape ``(latent_dim,)``."""
        scale = positive(self.raw_scale)
        return dist.Normal(self.linear(x), scale, validate_args=False).to_event(1)

    def forward(self, x, indices=None, num_data=None):
        register(self)
        with data_plate(x, indices, num_data):
            return {"z": pyro.sample("z", self.distribution(x))}


class PPCA(nn.Module):
    """p(x, z) = N(z | 0, I_k) N(x | W z + μ, σ² I_d), with σ = softplus(raw) + 10⁻⁵.

    ``model(x)`` has the sites ``"z"`` (event shape ``(latent_dim,)``) and ``"x"`` in the
    ``"data"`` plate.  ``guide`` is any contract-following guide module, or ``"linear"`` (the
    default: the amortized ``LinearGaussianGuide``) or ``"exact"``
    (``PPCAPosteriorGuide``, the exact posterior, with which training maximizes log p(x)
    itself).

    Args:
        data_dim: d, at least 2.
        latent_dim: k, in ``[1, d − 1]``.
        guide: ``"linear"``, ``"exact"`` or a guide module.

    References:
        Tipping & Bishop (1999), Probabilistic principal component analysis.
    """

    max_plate_nesting = 1  # the data plate

    def __init__(self, data_dim: int, latent_dim: int, guide: str | nn.Module = "linear"):
        super().__init__()
        self.data_dim, self.latent_dim = _check_dims(data_dim, latent_dim)
        self.weight = nn.Parameter(0.1 * torch.randn(data_dim, latent_dim))
        self.loc = nn.Parameter(torch.zeros(data_dim))
        self.raw_noise_scale = nn.Parameter(inverse_positive(1.0))
        guide_name = guide if isinstance(guide, str) else None
        if guide == "linear":
            guide = LinearGaussianGuide(data_dim, latent_dim)
        elif guide == "exact":
            guide = PPCAPosteriorGuide(self)
        elif guide_name is not None:
            raise bad_value("guide", guide, "'linear', 'exact' or a guide module")
        elif not callable(guide):
            raise bad_type("guide", guide, "a callable guide(x, indices=None, num_data=None)")
        self.guide = guide
        self.config = {"data_dim": data_dim, "latent_dim": latent_dim, "guide": guide_name}

    @property
    def noise_scale(self):
        """σ, the standard deviation of the isotropic observation noise."""
        return positive(self.raw_noise_scale)

    def model(self, x, indices=None, num_data=None):
        register(self, skip=("guide",))
        with data_plate(x, indices, num_data):
            z = pyro.sample("z", dist.Normal(x.new_zeros(self.latent_dim), 1.0).to_event(1))
            mean = (z.unsqueeze(-2) * self.weight).sum(-1) + self.loc  # W z + μ, particle-safe
            return pyro.sample("x", dist.Normal(mean, self.noise_scale).to_event(1), obs=x)

    def _cholesky_m(self):
        """L with L Lᵀ = M = Wᵀ W + σ² I_k."""
        eye = torch.eye(self.latent_dim, dtype=self.weight.dtype, device=self.weight.device)
        return torch.linalg.cholesky(self.weight.T @ self.weight + self.noise_scale ** 2 * eye)

    def covariance(self):
        """C = W Wᵀ + σ² I_d, the covariance of p(x)."""
        eye = torch.eye(self.data_dim, dtype=self.weight.dtype, device=self.weight.device)
        return self.weight @ self.weight.T + self.noise_scale ** 2 * eye

    def log_marginal(self, x):
        """log N(x | μ, W Wᵀ + σ² I) per row of ``x``, in O(d k²) through the k × k matrix M.

        With M = Wᵀ W + σ² I = L Lᵀ and r = x − μ (Woodbury and the matrix determinant lemma):
        rᵀ C⁻¹ r = (‖r‖² − ‖L⁻¹ Wᵀ r‖²) / σ² and log |C| = (d − k) log σ² + 2 Σ log L_jj.
        """
        x = _check_x(x, self.data_dim)
        r = x - self.loc
        chol = self._cholesky_m()
        projected = torch.linalg.solve_triangular(chol, (r @ self.weight).unsqueeze(-1),
                                                  upper=False).squeeze(-1)
        variance = self.noise_scale ** 2
        quadratic = ((r ** 2).sum(-1) - (projected ** 2).sum(-1)) / variance
        log_det = ((self.data_dim - self.latent_dim) * torch.log(variance)
                   + 2 * torch.log(torch.diagonal(chol)).sum())
        return -0.5 * (self.data_dim * math.log(2 * math.pi) + log_det + quadratic)

    def posterior(self, x):
        """p(z | x) = N(M⁻¹ Wᵀ (x − μ), σ² M⁻¹): ``(mean (n, k), covariance (k, k))``."""
        x = _check_x(x, self.data_dim)
        chol = self._cholesky_m()
        mean = torch.cholesky_solve(((x - self.loc) @ self.weight).unsqueeze(-1), chol)
        return mean.squeeze(-1), self.noise_scale ** 2 * torch.cholesky_inverse(chol)

    def load_parameters(self, parameters):
        """Set W, μ and σ from a ``PPCAParameters`` (e.g. ``ppca_mle``'s answer)."""
        weight, loc, noise_scale = parameters
        if tuple(weight.shape) != tuple(self.weight.shape):
            raise bad_value("weight", tuple(weight.shape),
                            f"shape {(self.data_dim, self.latent_dim)}")
        if tuple(loc.shape) != (self.data_dim,):
            raise bad_value("loc", tuple(loc.shape), f"shape ({self.data_dim},)")
        if not float(noise_scale) > 1e-5:
            raise bad_value("noise_scale", float(noise_scale), "a number > 1e-5")
        with torch.no_grad():
            self.weight.copy_(weight)
            self.loc.copy_(loc)
            self.raw_noise_scale.copy_(inverse_positive(float(noise_scale)))
        return self

    @torch.no_grad()
    def generate(self, num_samples, means=False):
        """``num_samples`` draws x = W z + μ + σ ε, z ~ N(0, I_k), ε ~ N(0, I_D): samples of
        p(x) = N(μ, W Wᵀ + σ² I); with ``means``, the decoder means W z + μ instead."""
        z = torch.randn(check_int("num_samples", num_samples, 1), self.latent_dim,
                        dtype=self.weight.dtype, device=self.weight.device)
        mean = z @ self.weight.T + self.loc
        return mean if means else mean + self.noise_scale * torch.randn_like(mean)

    @torch.no_grad()
    def reconstruct(self, x):
        """W E[z | x] + μ: the projection of each row onto the principal subspace."""
        return self.posterior(x)[0] @ self.weight.T + self.loc


class PPCAPosteriorGuide(nn.Module):
    """q(z | x) = p(z | x) of ``ppca``, exactly (a MultivariateNormal with full covariance).

    With it log p(x, z) − log q(z | x) = log p(x) for every z: the ELBO is tight and the
    importance weights do not vary.  It has no parameters of its own (it reads ``ppca``'s).
    """

    def __init__(self, ppca):
        super().__init__()
        self._ppca = [ppca]  # a list, so that ppca.guide = PPCAPosteriorGuide(ppca) is no cycle

    def forward(self, x, indices=None, num_data=None):
        mean, cov = self._ppca[0].posterior(x)
        tril = torch.linalg.cholesky(cov)
        with data_plate(x, indices, num_data):
            return {"z": pyro.sample("z", dist.MultivariateNormal(mean, scale_tril=tril))}


def ppca_mle(x: torch.Tensor, latent_dim: int) -> PPCAParameters:
    """The maximum-likelihood ``PPCAParameters`` of ``x`` (n, d), in closed form.

    μ = x̄; with S = (1/n) Σ (x_i − x̄)(x_i − x̄)ᵀ = U Λ Uᵀ (eigenvalues λ_1 ≥ … ≥ λ_d):
    σ² = (1/(d − k)) Σ_{j>k} λ_j and W = U_k (Λ_k − σ² I)^{1/2} (unique up to a rotation W R).

    Args:
        x: the rows, shape ``(n, d)``.
        latent_dim: k, in ``[1, d − 1]``.

    Returns:
        ``PPCAParameters(weight, loc, noise_scale)``.

    References:
        Tipping & Bishop (1999), Probabilistic principal component analysis.
    """
    x = validate_data(x, argument="x")
    rows, data_dim = x.shape
    _check_dims(data_dim, latent_dim)
    if rows < 2:
        raise bad_value("x", tuple(x.shape), "at least 2 rows")
    if bool((x == x[0]).all()):
        raise bad_value("x", "constant data (every row the same)", "data whose rows vary")
    loc = x.mean(0)
    centred = x - loc
    eigenvalues, eigenvectors = torch.linalg.eigh(centred.T @ centred / rows)
    eigenvalues, eigenvectors = eigenvalues.flip(0), eigenvectors.flip(1)  # largest first
    variance = eigenvalues[latent_dim:].mean()
    if float(variance) <= 10 * data_dim * torch.finfo(x.dtype).eps * float(eigenvalues[0]):
        raise bad_value("x", f"data whose covariance has rank <= latent_dim = {latent_dim}",
                        f"data spanning more than {latent_dim} dimensions (σ² would be 0); "
                        "use a smaller latent_dim")
    scales = (eigenvalues[:latent_dim] - variance).clamp(min=0).sqrt()
    return PPCAParameters(eigenvectors[:, :latent_dim] * scales, loc, variance.sqrt())
