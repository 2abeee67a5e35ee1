"""The Gaussian mixture: z enumerated by TraceEnum_ELBO, checked against scikit-learn's EM."""

import numpy as np
import pyro.distributions as dist
import pytest
import torch
from pyro import poutine
from sklearn.metrics import adjusted_rand_score
from sklearn.mixture import GaussianMixture as SklearnMixture

from pyro_lvm.data import load_toy
from pyro_lvm.infer import TrainConfig, Trainer, importance_log_likelihood, log_weights
from pyro_lvm.infer.objectives import make_elbo
from pyro_lvm.models.gmm import EmptyGuide, GaussianMixture


def _clusters(n=600, seed=0):
    """Three well-separated, anisotropic Gaussian clusters in 2-D, with their labels."""
    data = load_toy("clusters", n_train=n, n_test=0, seed=seed)
    return data.train, data.train_labels


def test_log_marginal_and_responsibilities_are_the_mixture_formulas():
    gmm = GaussianMixture(3, 4).double()
    with torch.no_grad():
        gmm.logits.normal_()
        gmm.raw_scale_tril.normal_(0, 0.3)
    x = torch.randn(20, 3, dtype=torch.float64)
    cov = gmm.covariance()
    assert (torch.linalg.eigvalsh(cov) > 0).all()
    brute = sum(gmm.weights[c] * dist.MultivariateNormal(gmm.loc[c], cov[c]).log_prob(x).exp()
                for c in range(4)).log()
    assert torch.allclose(gmm.log_marginal(x), brute, atol=1e-10)
    resp = gmm.responsibilities(x)
    assert resp.shape == (20, 4) and torch.allclose(resp.sum(-1), torch.ones(20, dtype=x.dtype))
    assert torch.equal(gmm.predict(x), resp.argmax(-1))


def test_enumerated_elbo_is_the_exact_log_likelihood():
    gmm = GaussianMixture(2, 3)
    x, _ = _clusters(60)
    loss = make_elbo("enum").differentiable_loss(gmm.model, gmm.guide, x)
    assert torch.allclose(-loss, gmm.log_marginal(x).sum(), rtol=1e-5)
    # The site is "z", one integer per row, summed out in parallel along its own dimension.
    trace = poutine.trace(poutine.enum(gmm.model, first_available_dim=-2)).get_trace(x)
    assert trace.nodes["z"]["infer"]["enumerate"] == "parallel"
    assert trace.nodes["z"]["value"].shape == (3, 1)
    assert isinstance(gmm.guide, EmptyGuide)


def test_evaluators_treat_z_as_proposed_by_its_prior():
    gmm = GaussianMixture(2, 3).init_from_data(_clusters(300)[0], seed=0)
    x = _clusters(300, seed=1)[0][:40]
    # With the empty guide, log w = log p(x | z), z ~ π: prior-proposal importance sampling.
    log_w = log_weights(gmm.model, gmm.guide, x, 2000)
    assert log_w.shape == (2000, 40)
    estimate = importance_log_likelihood(gmm.model, gmm.guide, x, 2000)
    with torch.no_grad():
        exact = gmm.log_marginal(x)
    # Its standard error is sd(w) / (mean(w) √K) (delta method): about √((1 − π_c) / (π_c K))
    # for a row that only component c explains.
    weights = torch.exp(log_w - log_w.max(0).values)
    error = weights.std(0) / (weights.mean(0) * 2000 ** 0.5)
    assert ((estimate - exact).abs() < 5 * error).all() and error.max() < 0.05


def test_svi_matches_scikit_learn_em():
    x, labels = _clusters()
    em = SklearnMixture(3, covariance_type="full", random_state=0).fit(x.numpy())
    gmm = GaussianMixture(2, 3).init_from_data(x, seed=0)
    Trainer(gmm, TrainConfig(epochs=60, batch_size=300, learning_rate=0.05, elbo="enum"),
            device="cpu").fit(x, quiet=True)
    with torch.no_grad():
        ours = float(gmm.log_marginal(x).mean())
        predicted = gmm.predict(x).numpy()
    assert abs(ours - em.score(x.numpy())) < 0.02
    assert adjusted_rand_score(em.predict(x.numpy()), predicted) == 1.0
    assert adjusted_rand_score(labels.numpy(), predicted) > 0.99
    # The fitted weights and means are EM's, up to the order of the components.
    order = np.argsort(em.means_[:, 0] + 10 * em.means_[:, 1])
    mine = np.argsort(gmm.loc[:, 0].detach().numpy() + 10 * gmm.loc[:, 1].detach().numpy())
    assert np.allclose(gmm.weights.detach().numpy()[mine], em.weights_[order], atol=0.01)
    assert np.allclose(gmm.loc.detach().numpy()[mine], em.means_[order], atol=0.05)


def test_init_from_data_is_seeded_and_finds_the_clusters():
    x, labels = _clusters(300)
    first = GaussianMixture(2, 3).init_from_data(x, seed=3)
    again = GaussianMixture(2, 3).init_from_data(x, seed=3)
    assert torch.equal(first.loc, again.loc)
    assert adjusted_rand_score(labels.numpy(), first.predict(x).numpy()) > 0.95
    assert torch.allclose(first.weights.sum(), torch.tensor(1.0))
    assert first.generate(7).shape == (7, 2)


@pytest.mark.parametrize("make, message", [
    (lambda: GaussianMixture(2, 0), "num_components: got 0, expected an integer >= 1"),
    (lambda: GaussianMixture(0, 2), "data_dim: got 0"),
    (lambda: GaussianMixture(2, 5).init_from_data(torch.randn(4, 2)),
     r"num_components: got 5, expected at most the number of rows of x \(4\)"),
    (lambda: GaussianMixture(2, 3).init_from_data(torch.tensor([[0.0, 1.0], [2.0, 3.0]] * 5)),
     r"expected at most the number of distinct rows of x \(2\)"),
    (lambda: GaussianMixture(2, 2).init_from_data(torch.ones(10, 2)), "x: got 'constant data"),
    (lambda: GaussianMixture(2, 2).log_marginal(torch.randn(5, 3)),
     r"x: got \(5, 3\), expected a tensor of shape \(n, 2\)"),
])
def test_bad_input_names_the_argument(make, message):
    with pytest.raises(ValueError, match=message):
        make()
