"""The Gaussian mixture: the lecture's first latent variable model, with a discrete z.

    z ~ Categorical(π),   x | z ~ N(μ_z, Σ_z),   p(x) = Σ_c π_c N(x | μ_c, Σ_c).

z takes C values, so Pyro's ``TraceEnum_ELBO`` sums it out exactly instead of sampling it: the
model marks the site ``infer={"enumerate": "parallel"}``, the guide is empty, and the "ELBO" that
the trainer maximizes is log p(x) itself.  Σ_c = L_c L_cᵀ with L_c lower triangular and a
positive (softplus) diagonal, so every covariance stays positive definite without constraints.
"""

import pyro
import pyro.distributions as dist
import torch
from torch import nn

from ..data import validate_data
from ..checks import check_int
from ..errors import bad_value
from ..nn import inverse_positive, positive
from ..params import register
from ..plates import data_plate


class EmptyGuide(nn.Module):
    """A guide with no sites: every latent of the model is enumerated (or drawn from its prior)."""

    def forward(self, x, indices=None, num_data=None):
        return None


class GaussianMixture(nn.Module):
    """p(x, z) = π_z N(x | μ_z, L_z L_zᵀ) with π = softmax(logits) over ``num_components``.

    ``model(x)`` has the sites ``"z"`` (an integer in ``0 .. C − 1``, enumerated in parallel)
    and ``"x"`` in the ``"data"`` plate.  Train it with ``TrainConfig(elbo="enum")``.

    Args:
        data_dim: the size of a row of x.
        num_components: C.
    """

    max_plate_nesting = 1  # the data plate

    def __init__(self, data_dim: int, num_components: int):
        super().__init__()
        self.data_dim = check_int("data_dim", data_dim, 1)
        self.num_components = check_int("num_components", num_components, 1)
        self.logits = nn.Parameter(torch.zeros(num_components))
        self.loc = nn.Parameter(torch.randn(num_components, data_dim))
        self.raw_scale_tril = nn.Parameter(
            torch.diag_embed(inverse_positive(1.0).expand(num_components, data_dim)).clone())
        self.guide = EmptyGuide()
        self.config = {"data_dim": data_dim, "num_components": num_components}

    def _check_x(self, x):
        x = validate_data(x, argument="x")
        if x.shape[1] != self.data_dim:
            raise bad_value("x", tuple(x.shape), f"a tensor of shape (n, {self.data_dim})")
        return x

    @property
    def weights(self):
        """π = softmax(logits), the mixing proportions."""
        return torch.softmax(self.logits, -1)

    def scale_tril(self):
        """L_c of shape ``(C, d, d)``: the raw strict lower triangle, softplus on the diagonal."""
        raw = self.raw_scale_tril
        return raw.tril(-1) + torch.diag_embed(positive(torch.diagonal(raw, dim1=-2, dim2=-1)))

    def covariance(self):
        """Σ_c = L_c L_cᵀ, shape ``(C, d, d)``."""
        tril = self.scale_tril()
        return tril @ tril.transpose(-1, -2)

    def model(self, x, indices=None, num_data=None):
        register(self, skip=("guide",))
        tril = self.scale_tril()
        with data_plate(x, indices, num_data):
            z = pyro.sample("z", dist.Categorical(logits=self.logits),
                            infer={"enumerate": "parallel"})
            return pyro.sample("x", dist.MultivariateNormal(self.loc[z], scale_tril=tril[z]),
                               obs=x)

    def joint_log_prob(self, x):
        """log π_c + log N(x | μ_c, Σ_c), shape ``(n, C)``."""
        x = self._check_x(x)
        components = dist.MultivariateNormal(self.loc, scale_tril=self.scale_tril())
        return torch.log_softmax(self.logits, -1) + components.log_prob(x.unsqueeze(-2))

    def log_marginal(self, x):
        """log p(x) = logsumexp_c [log π_c + log N(x | μ_c, Σ_c)] per row of ``x``."""
        return torch.logsumexp(self.joint_log_prob(x), -1)

    def responsibilities(self, x):
        """p(z = c | x) = π_c N(x | μ_c, Σ_c) / p(x), shape ``(n, C)``; rows sum to 1."""
        return torch.softmax(self.joint_log_prob(x), -1)

    def predict(self, x):
        """The most probable component argmax_c p(z = c | x) per row."""
        return self.joint_log_prob(x).argmax(-1)

    @torch.no_grad()
    def generate(self, num_samples):
        """``num_samples`` draws x ~ p(x): z ~ Categorical(π), then x ~ N(μ_z, Σ_z)."""
        z = dist.Categorical(logits=self.logits).sample((check_int("num_samples", num_samples, 1),))
        return dist.MultivariateNormal(self.loc[z], scale_tril=self.scale_tril()[z]).sample()

    @torch.no_grad()
    def init_from_data(self, x, seed=0, iterations=20):
        """Start from k-means: k-means++ seeding, ``iterations`` Lloyd steps, then moments.

        Seeding picks a first centre uniformly among the rows and each next one with probability
        ∝ D(x)², the squared distance to the nearest centre already picked.  Each component then
        gets π_c ∝ n_c + 1, μ_c the mean of its n_c rows and Σ_c = (scatter_c + S) / (n_c + 1),
        shrunk towards the data covariance S so that it is positive definite even for tiny
        clusters.  Returns ``self``.
        """
        x = self._check_x(x)
        seed = check_int("seed", seed, 0)
        iterations = check_int("iterations", iterations, 0)
        rows, count = x.shape[0], self.num_components
        if count > rows:
            raise bad_value("num_components", count, f"at most the number of rows of x ({rows})")
        if bool((x == x[0]).all()):
            raise bad_value("x", "constant data (every row the same)", "data whose rows vary")
        centred = x - x.mean(0)
        data_cov = centred.T @ centred / rows
        spread = float(torch.diagonal(data_cov).sum()) / self.data_dim
        data_cov = data_cov + 1e-6 * spread * torch.eye(self.data_dim, dtype=x.dtype,
                                                        device=x.device)
        centres = _kmeans_plus_plus(x, count, torch.Generator(device=x.device).manual_seed(seed))
        labels = torch.cdist(x, centres).argmin(-1)
        for _ in range(iterations):
            centres = _cluster_means(x, labels, centres)
            previous, labels = labels, torch.cdist(x, centres).argmin(-1)
            if torch.equal(previous, labels):
                break
        centres = _cluster_means(x, labels, centres)
        sizes = torch.bincount(labels, minlength=count).to(x.dtype)
        residual = x - centres[labels]
        scatter = x.new_zeros(count, self.data_dim, self.data_dim).index_add_(
            0, labels, residual.unsqueeze(-1) * residual.unsqueeze(-2))
        covariance = (scatter + data_cov) / (sizes + 1)[:, None, None]
        tril = torch.linalg.cholesky(covariance)
        self.logits.copy_(torch.log((sizes + 1) / (rows + count)))
        self.loc.copy_(centres)
        self.raw_scale_tril.copy_(tril.tril(-1) + torch.diag_embed(
            inverse_positive(torch.diagonal(tril, dim1=-2, dim2=-1))))
        return self


def _cluster_means(x, labels, centres):
    """The mean of the rows of each cluster; an empty cluster keeps its centre."""
    sizes = torch.bincount(labels, minlength=centres.shape[0]).to(x.dtype)[:, None]
    sums = torch.zeros_like(centres).index_add_(0, labels, x)
    return torch.where(sizes > 0, sums / sizes.clamp(min=1), centres)


def _kmeans_plus_plus(x, count, generator):
    """``count`` rows of ``x`` picked by k-means++ (D² weighting), shape ``(count, d)``."""
    first = torch.randint(x.shape[0], (1,), generator=generator, device=x.device)
    centres = x[first]
    distance = ((x - centres) ** 2).sum(-1)
    for _ in range(1, count):
        if not float(distance.sum()) > 0:
            distinct = torch.unique(x, dim=0).shape[0]
            raise bad_value("num_components", count,
                            f"at most the number of distinct rows of x ({distinct})")
        pick = torch.multinomial(distance, 1, generator=generator)
        centres = torch.cat([centres, x[pick]])
        distance = torch.minimum(distance, ((x - x[pick]) ** 2).sum(-1))
    return centres

