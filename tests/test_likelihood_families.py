"""Known-answer tests of the observation models in ``pyro_lvm.likelihoods``.

Every reference is computed independently in float64 with scipy / numpy from the
parametrization the docstrings state (softplus(raw) + 1e-5 for every positive quantity, as
``nn.positive``); nothing is copied from the library's own outputs.
"""

import dataclasses
import math
from typing import Callable

import numpy as np
import pytest
import torch
from scipy import integrate, special, stats

from pyro_lvm.data import DataSplit, validate_data
from pyro_lvm.likelihoods import (CategoricalLikelihood, ContinuousBernoulli, GaussianLikelihood,
                                  NegativeBinomialLikelihood, StudentTLikelihood,
                                  make_likelihood)

B, D, K = 5, 3, 4                       # rows, features, levels of the categorical case
CENTER, SPREAD = np.array([1.0, -2.0, 0.5]), np.array([2.0, 0.5, 3.0])
FIXED_SCALE = 0.3
f64 = torch.float64


def sp(raw):
    """softplus(raw) + 1e-5 in float64 numpy (the library's positive transform)."""
    raw = raw.detach().numpy() if torch.is_tensor(raw) else raw
    return np.logaddexp(0.0, np.asarray(raw, dtype=np.float64)) + 1e-5


def t64(a):
    return torch.as_tensor(np.asarray(a, dtype=np.float64))


def with_raw(lik, **raws):
    """``lik`` in float64 with its raw parameters set to the given values."""
    lik = lik.double()
    with torch.no_grad():
        for name, value in raws.items():
            getattr(lik, name).copy_(t64(value))
    return lik


# ---------------------------------------------------------------- continuous Bernoulli ----

def cb_log_terms(eta):
    """(log λ, log(1 − λ)) with λ = σ(η), stable at any η."""
    return -np.logaddexp(0.0, -eta), -np.logaddexp(0.0, eta)


def cb_log_norm_integral(eta):
    """log ∫₀¹ λ^t (1 − λ)^(1 − t) dt by quadrature (the peak factored out)."""
    la, lb = cb_log_terms(eta)
    m = max(la, lb)
    val, _ = integrate.quad(lambda t: math.exp(t * la + (1 - t) * lb - m), 0.0, 1.0,
                            epsabs=0.0, epsrel=1e-13, limit=200)
    return m + math.log(val)


@np.vectorize
def cb_logpdf(x, eta):
    la, lb = cb_log_terms(eta)
    return x * la + (1 - x) * lb - cb_log_norm_integral(eta)


@np.vectorize
def cb_mean(eta):
    la, lb = cb_log_terms(eta)
    m = max(la, lb)
    f = lambda t: math.exp(t * la + (1 - t) * lb - m)  # noqa: E731
    num = integrate.quad(lambda t: t * f(t), 0, 1, epsabs=0.0, epsrel=1e-13, limit=200)[0]
    return num / integrate.quad(f, 0, 1, epsabs=0.0, epsrel=1e-13, limit=200)[0]


def cb_cdf(x, eta):
    """F(x) = (λ^x (1 − λ)^(1 − x) + λ − 1) / (2λ − 1); x at λ = 1/2."""
    lam = special.expit(eta)
    if abs(2 * lam - 1) < 1e-300:
        return x
    return (lam ** x * (1 - lam) ** (1 - x) + lam - 1) / (2 * lam - 1)


# ----------------------------------------------------------------------- the cases ----

def nb_params(lik, log_mean):
    theta = sp(lik.raw_dispersion)
    mu = np.exp(log_mean)
    return theta, theta / (theta + mu)


def zinb_logpmf(lik, o, x):
    n, p = nb_params(lik, o[:, :D])
    gate = special.expit(o[:, D:])
    return np.log(gate * (x == 0) + (1 - gate) * stats.nbinom.pmf(x, n, p))


def beta_ab(o):
    mu, phi = special.expit(o[:, :D]), sp(o[:, D:])
    return mu * phi, (1 - mu) * phi


def counts(rng):
    x = rng.integers(0, 12, (B, D)).astype(float)
    x[0], x[1, 2] = 0.0, 40.0
    return x


def unit(rng):
    x = rng.uniform(0.0, 1.0, (B, D))
    x[0, 0], x[1, 1] = 0.0, 1.0
    return x


@dataclasses.dataclass
class Case:
    name: str
    build: Callable          # () -> float64 likelihood with non-default parameters
    out: Callable            # rng -> decoder outputs (B, num_outputs)
    x: Callable              # rng -> data (B, D) in the support
    logpdf: Callable         # (lik, out, x) -> per-entry reference log density
    mean: Callable           # (lik, out) -> reference E[x | z]
    alter: Callable          # x -> another value in the support (written at masked entries)
    num_params: int = 0

    def __repr__(self):
        return self.name


def _gauss_loc(o):
    return CENTER + SPREAD * o


CASES = [
    Case("bernoulli", lambda: make_likelihood("bernoulli", D).double(),
         lambda r: 2 * r.normal(size=(B, D)), lambda r: r.integers(0, 2, (B, D)).astype(float),
         lambda lik, o, x: stats.bernoulli.logpmf(x, special.expit(o)),
         lambda lik, o: stats.bernoulli.mean(special.expit(o)), lambda x: 1 - x),
    Case("gaussian", lambda: with_raw(GaussianLikelihood(D, center=CENTER, spread=SPREAD),
                                      raw_scale=[-0.7, 0.2, 1.1]),
         lambda r: r.normal(size=(B, D)), lambda r: CENTER + 2 * SPREAD * r.normal(size=(B, D)),
         lambda lik, o, x: stats.norm.logpdf(x, _gauss_loc(o), SPREAD * sp(lik.raw_scale)),
         lambda lik, o: stats.norm.mean(_gauss_loc(o), SPREAD * sp(lik.raw_scale)),
         lambda x: x + 1e3, num_params=1),
    Case("gaussian-fixed", lambda: make_likelihood("gaussian", D, scale=FIXED_SCALE).double(),
         lambda r: r.normal(size=(B, D)), lambda r: r.normal(size=(B, D)),
         lambda lik, o, x: stats.norm.logpdf(x, o, FIXED_SCALE),
         lambda lik, o: stats.norm.mean(o, FIXED_SCALE), lambda x: x - 1e3),
    Case("studentt", lambda: with_raw(StudentTLikelihood(D, center=CENTER, spread=SPREAD),
                                      raw_scale=[-0.5, 0.3, 0.9], raw_df=[1.5, 3.0, 7.0]),
         lambda r: r.normal(size=(B, D)), lambda r: CENTER + 3 * SPREAD * r.normal(size=(B, D)),
         lambda lik, o, x: stats.t.logpdf(x, sp(lik.raw_df), _gauss_loc(o),
                                          SPREAD * sp(lik.raw_scale)),
         lambda lik, o: stats.t.mean(sp(lik.raw_df), _gauss_loc(o), SPREAD * sp(lik.raw_scale)),
         lambda x: x + 1e3, num_params=2),
    Case("beta", lambda: make_likelihood("beta", D).double(),
         lambda r: r.normal(0.5, 1.0, (B, 2 * D)), lambda r: r.uniform(0.02, 0.98, (B, D)),
         lambda lik, o, x: stats.beta.logpdf(x, *beta_ab(o)),
         lambda lik, o: stats.beta.mean(*beta_ab(o)), lambda x: 1 - x),
    Case("cbernoulli", lambda: make_likelihood("cbernoulli", D).double(),
         lambda r: 3 * r.normal(size=(B, D)), unit,
         lambda lik, o, x: cb_logpdf(x, o), lambda lik, o: cb_mean(o), lambda x: 1 - x),
    Case("poisson", lambda: make_likelihood("poisson", D).double(),
         lambda r: r.normal(1.0, 1.0, (B, D)), counts,
         lambda lik, o, x: stats.poisson.logpmf(x, np.exp(o)),
         lambda lik, o: stats.poisson.mean(np.exp(o)), lambda x: x + 1000),
    Case("negbinom", lambda: with_raw(make_likelihood("negbinom", D),
                                      raw_dispersion=[-1.0, 0.8, 2.5]),
         lambda r: r.normal(1.0, 1.0, (B, D)), counts,
         lambda lik, o, x: stats.nbinom.logpmf(x, *nb_params(lik, o)),
         lambda lik, o: stats.nbinom.mean(*nb_params(lik, o)), lambda x: x + 1000, num_params=1),
    Case("zinb", lambda: with_raw(make_likelihood("zinb", D), raw_dispersion=[0.4, -0.6, 1.7]),
         lambda r: r.normal(1.0, 1.0, (B, 2 * D)), counts, zinb_logpmf,
         lambda lik, o: (1 - special.expit(o[:, D:])) * stats.nbinom.mean(
             *nb_params(lik, o[:, :D])), lambda x: x + 1000, num_params=1),
    Case("categorical", lambda: CategoricalLikelihood(K).double(),
         lambda r: 2 * r.normal(size=(B, K)), lambda r: r.integers(0, K, (B, 1)).astype(float),
         lambda lik, o, x: np.take_along_axis(special.log_softmax(o, -1), x.astype(int), -1),
         lambda lik, o: special.softmax(o, -1).argmax(-1)[:, None].astype(float),
         lambda x: (x + 1) % K),
]


def setup(case, seed=0):
    rng = np.random.default_rng(seed)
    lik = case.build()
    out, x = case.out(rng), case.x(rng)
    mask = rng.uniform(size=x.shape) < 0.6
    mask[0] = True
    mask[1] = False
    return lik, out, x, mask


def out_mask(lik, mask):
    """Which decoder outputs belong to masked-out features."""
    if isinstance(lik, CategoricalLikelihood):
        return np.broadcast_to(mask, (mask.shape[0], lik.levels))
    return np.concatenate([mask] * (lik.num_outputs // lik.data_dim), -1)


# --------------------------------------------------------------- per-likelihood tests ----

@pytest.mark.parametrize("case", CASES, ids=repr)
def test_log_prob_and_mean_match_scipy(case):
    """log p(x | z) has event shape (data_dim,) and is the scipy log density summed over
    features; ``mean`` is the scipy distribution's mean (categorical: its mode)."""
    lik, out, x, _ = setup(case)
    d = lik(t64(out))
    assert d.batch_shape == (B,) and d.event_shape == (x.shape[1],)
    ref = case.logpdf(lik, out, x)
    assert ref.shape == x.shape and np.isfinite(ref).all()
    np.testing.assert_allclose(d.log_prob(t64(x)).detach().numpy(), ref.sum(-1), rtol=1e-6)
    np.testing.assert_allclose(lik.mean(t64(out)).detach().numpy(), case.mean(lik, out),
                               rtol=1e-6, atol=1e-12)


@pytest.mark.parametrize("case", CASES, ids=repr)
def test_masking_leaves_out_missing_entries(case):
    """Masked log p is the sum over observed entries; what masked entries hold changes
    neither it nor any gradient; decoder outputs of masked features get exactly zero grad."""
    lik, out, x, mask = setup(case)
    results = []
    for xs in (x, np.where(mask, x, case.alter(x))):
        o = t64(out).requires_grad_()
        lik.zero_grad()
        lp = lik(o, torch.as_tensor(mask)).log_prob(t64(xs))
        lp.sum().backward()
        results.append((lp.detach(), o.grad, [p.grad.clone() for p in lik.parameters()]))
    (lp, grad, pgrads), (lp2, grad2, pgrads2) = results
    np.testing.assert_allclose(lp.numpy(), (case.logpdf(lik, out, x) * mask).sum(-1), rtol=1e-6)
    assert torch.equal(lp, lp2) and torch.equal(grad, grad2)
    assert all(torch.allclose(a, b, rtol=1e-12, atol=0) for a, b in zip(pgrads, pgrads2))
    hidden = ~out_mask(lik, mask)
    assert (grad[torch.as_tensor(hidden)] == 0).all()
    assert (grad[torch.as_tensor(~hidden)] != 0).any()


@pytest.mark.parametrize("case", CASES, ids=repr)
def test_gradient_reaches_every_parameter(case):
    """Each learned per-feature quantity (scale, df, dispersion) is a parameter of shape
    (data_dim,) and gets a non-zero gradient in every entry."""
    lik, out, x, _ = setup(case)
    params = list(lik.parameters())
    assert len(params) == case.num_params
    lik(t64(out).requires_grad_()).log_prob(t64(x)).sum().backward()
    for p in params:
        assert p.shape == (lik.data_dim,)
        assert p.grad is not None and torch.isfinite(p.grad).all() and (p.grad != 0).all()


@pytest.mark.parametrize("name, data_dim, bad", [
    ("bernoulli", D, 1.5), ("bernoulli", D, -0.5), ("beta", D, 0.0), ("beta", D, 1.0),
    ("cbernoulli", D, 1.01), ("poisson", D, -1.0), ("poisson", D, 2.5), ("negbinom", D, -3.0),
    ("negbinom", D, 0.5), ("zinb", D, -1.0), ("zinb", D, 1.25), ("categorical", 1, float(K)),
    ("categorical", 1, -1.0), ("categorical", 1, 1.5)])
def test_check_refuses_values_outside_the_support(name, data_dim, bad):
    """``check`` accepts valid data with NaNs and names the likelihood, row and column of the
    first value outside the support."""
    case = next(c for c in CASES if c.name == name)
    lik = case.build()
    x = t64(case.x(np.random.default_rng(1)))
    x[2, 0] = math.nan
    assert lik.check(x) is x
    x[3, data_dim - 1] = bad
    with pytest.raises(ValueError, match=rf"in row 3, column {data_dim - 1}.*likelihood '{name}'"):
        lik.check(x)


@pytest.mark.parametrize("name", ["poisson", "negbinom", "zinb"])
def test_validate_data_refuses_bad_counts(name):
    """Negative and fractional counts are refused; NaN only with ``missing=True``, and then
    not a whole row (a whole column: ``DataSplit.from_array``, next test)."""
    nan = math.nan
    assert validate_data([[0.0, 1.0], [2.0, 30.0]], likelihood=name).shape == (2, 2)
    for bad in ([[0.0, -1.0], [2.0, 3.0]], [[0.0, 0.5], [2.0, 3.0]]):
        with pytest.raises(ValueError, match=f"likelihood={name!r}"):
            validate_data(bad, likelihood=name)
        with pytest.raises(ValueError, match=f"likelihood={name!r}"):
            validate_data(bad, likelihood=name, missing=True)
    holes = [[0.0, nan], [2.0, 3.0]]
    with pytest.raises(ValueError, match="NaN"):
        validate_data(holes, likelihood=name)
    assert torch.isnan(validate_data(holes, likelihood=name, missing=True)).sum() == 1
    with pytest.raises(ValueError, match="row 1 missing"):
        validate_data([[0.0, 1.0], [nan, nan], [2.0, 3.0]], likelihood=name, missing=True)


def test_data_split_refuses_a_column_missing_everywhere():
    """With ``missing=True`` a column with no observed value is refused when the data set is
    built (``validate_data`` itself only refuses whole rows)."""
    with pytest.raises(ValueError, match="column 0 missing"):
        DataSplit.from_array([[math.nan, 1.0], [math.nan, 3.0]], name="t", missing=True)
    assert DataSplit.from_array([[math.nan, 1.0], [2.0, 3.0]], name="t", missing=True).missing


@pytest.mark.parametrize("args, match", [
    (("gamma", D), "likelihood"), (("poisson", D, 0.5), "scale"),
    (("categorical", D), "likelihood"),
    (([{"name": "a", "kind": "gaussian"}, {"name": "b", "kind": "poisson"}], D), "data_dim")])
def test_make_likelihood_refuses_bad_arguments(args, match):
    """Unknown names, a scale for a non-gaussian likelihood, a schema of the wrong width."""
    with pytest.raises(ValueError, match=match):
        make_likelihood(*args)


# ------------------------------------------------------------ continuous Bernoulli ----

LOGITS = np.array([0.0, 1e-8, -1e-8, 1e-3, -1e-3, 0.05, -0.05, 0.0999, -0.0999, 0.1001,
                   -0.1001, 1.0, -1.0, 20.0, -20.0, 80.0, -80.0])
XS = np.array([0.0, 0.3, 0.7, 1.0])


def test_continuous_bernoulli_log_prob_and_mean_against_quadrature():
    """log p(x | η) and E[x] match quadrature of λ^x (1 − λ)^(1 − x) over [0, 1] in float64
    across the series / exact switch (|η| = 0.1, 1e-2) and at extreme logits; float32 is
    finite and within 1e-4 of the float64 reference."""
    eta, x = np.meshgrid(LOGITS, XS, indexing="ij")
    ref, ref_mean = cb_logpdf(x, eta), cb_mean(LOGITS)
    got = ContinuousBernoulli(t64(eta)).log_prob(t64(x)).numpy()
    np.testing.assert_allclose(got, ref, rtol=1e-6, atol=1e-12)
    np.testing.assert_allclose(ContinuousBernoulli(t64(LOGITS)).mean.numpy(), ref_mean,
                               rtol=1e-6)
    d32 = ContinuousBernoulli(torch.tensor(eta, dtype=torch.float32))
    got32 = d32.log_prob(torch.tensor(x, dtype=torch.float32)).numpy()
    assert np.isfinite(got32).all()
    np.testing.assert_allclose(got32, ref, rtol=0, atol=1e-4)
    mean32 = ContinuousBernoulli(torch.tensor(LOGITS, dtype=torch.float32)).mean.numpy()
    assert np.isfinite(mean32).all()
    np.testing.assert_allclose(mean32, ref_mean, rtol=0, atol=1e-4)


def test_continuous_bernoulli_gradient_near_zero():
    """d log p / dη is finite at η = 0 exactly and matches a central finite difference of
    the quadrature reference near 0 (both sides of the |η| = 0.1 switch)."""
    near = LOGITS[np.abs(LOGITS) < 0.2]
    eta, x = np.meshgrid(near, XS, indexing="ij")
    e = t64(eta).requires_grad_()
    ContinuousBernoulli(e).log_prob(t64(x)).sum().backward()
    assert torch.isfinite(e.grad).all()
    h = 1e-4
    fd = (cb_logpdf(x, eta + h) - cb_logpdf(x, eta - h)) / (2 * h)
    np.testing.assert_allclose(e.grad.numpy(), fd, rtol=1e-6, atol=1e-7)
    np.testing.assert_allclose(e.grad.numpy()[0], XS - 0.5, atol=1e-12)  # η = 0: x − 1/2


def test_continuous_bernoulli_rsample_follows_its_cdf():
    """20000 draws at each logit have a KS distance < 0.02 to the analytic CDF, and draws at
    any logit (float32 and float64) lie in [0, 1]."""
    torch.manual_seed(0)
    logits = np.array([-20.0, -2.0, -5e-4, 0.0, 5e-4, 0.5, 3.0, 20.0])
    draws = ContinuousBernoulli(t64(logits)).rsample((20000,)).numpy()
    for i, eta in enumerate(logits):
        ks = stats.kstest(draws[:, i], lambda v, eta=eta: cb_cdf(v, eta)).statistic
        assert ks < 0.02, (eta, ks)
    for dtype in (torch.float32, f64):
        d = ContinuousBernoulli(torch.tensor(LOGITS, dtype=dtype)).rsample((2000,))
        assert torch.isfinite(d).all() and (d >= 0).all() and (d <= 1).all()


# ------------------------------------------------------------------------- a table ----

SCHEMA = [
    {"name": "g1", "kind": "gaussian", "center": 10.0, "spread": 2.0},
    {"name": "c1", "kind": "categorical", "levels": ["a", "b", "c"]},
    {"name": "n1", "kind": "negbinom"},
    {"name": "b1", "kind": "bernoulli"},
    {"name": "g2", "kind": "gaussian", "center": -1.0, "spread": 0.5},
    {"name": "c2", "kind": "categorical", "levels": ["w", "x", "y", "z"]},
    {"name": "n2", "kind": "negbinom"},
    {"name": "p1", "kind": "beta"},
]
# Decoder outputs by group, in order of each kind's first column: gaussian (g1, g2), c1 (3),
# negbinom (n1, n2), bernoulli (b1), c2 (4), beta (p1: logit mean, raw precision).
G, C1, NB, BE, C2, BT = slice(0, 2), slice(2, 5), slice(5, 7), 7, slice(8, 12), slice(12, 14)


def table_setup(seed=0):
    rng = np.random.default_rng(seed)
    table = make_likelihood(SCHEMA, len(SCHEMA)).double()
    gauss = next(p for p in table.parts if isinstance(p, GaussianLikelihood))
    nb = next(p for p in table.parts if isinstance(p, NegativeBinomialLikelihood))
    with torch.no_grad():
        gauss.raw_scale.copy_(t64([-0.3, 0.6]))
        nb.raw_dispersion.copy_(t64([0.9, -0.4]))
    out = rng.normal(size=(B, 14))
    x = np.stack([10 + 4 * rng.normal(size=B), rng.integers(0, 3, B), rng.integers(0, 20, B),
                  rng.integers(0, 2, B), -1 + rng.normal(size=B), rng.integers(0, 4, B),
                  rng.integers(0, 5, B), rng.uniform(0.05, 0.95, B)], -1).astype(float)
    return table, gauss, nb, out, x


def table_reference(gauss, nb, o, x):
    """Per-cell log densities (B, 8) and means (B, 8) of the table, column by column."""
    sigma, theta = sp(gauss.raw_scale), sp(nb.raw_dispersion)
    loc = np.array([10.0, -1.0]) + np.array([2.0, 0.5]) * o[:, G]
    mu = np.exp(o[:, NB])
    a = special.expit(o[:, BT][:, 0]) * sp(o[:, BT][:, 1])
    b = (1 - special.expit(o[:, BT][:, 0])) * sp(o[:, BT][:, 1])
    logp, mean = np.empty_like(x), np.empty_like(x)
    for j, col in enumerate((0, 4)):
        logp[:, col] = stats.norm.logpdf(x[:, col], loc[:, j], np.array([2.0, 0.5])[j] * sigma[j])
        mean[:, col] = loc[:, j]
    for j, col in enumerate((2, 6)):
        p = theta[j] / (theta[j] + mu[:, j])
        logp[:, col] = stats.nbinom.logpmf(x[:, col], theta[j], p)
        mean[:, col] = stats.nbinom.mean(theta[j], p)
    for col, s in ((1, C1), (5, C2)):
        logp[:, col] = special.log_softmax(o[:, s], -1)[np.arange(B), x[:, col].astype(int)]
        mean[:, col] = o[:, s].argmax(-1)
    logp[:, 3] = stats.bernoulli.logpmf(x[:, 3], special.expit(o[:, BE]))
    mean[:, 3] = special.expit(o[:, BE])
    logp[:, 7], mean[:, 7] = stats.beta.logpdf(x[:, 7], a, b), stats.beta.mean(a, b)
    return logp, mean


def test_table_log_prob_mean_and_mask_match_per_column_references():
    """log p is the sum of the columns' references (masked: of the observed cells only),
    every parameter gets a gradient, and ``mean`` puts each column's mean in its place."""
    table, gauss, nb, out, x = table_setup()
    assert (table.data_dim, table.num_outputs, table.num_features) == (8, 14, 13)
    logp, mean = table_reference(gauss, nb, out, x)
    d = table(t64(out))
    assert d.batch_shape == (B,) and d.event_shape == (8,)
    lp = d.log_prob(t64(x))
    np.testing.assert_allclose(lp.detach().numpy(), logp.sum(-1), rtol=1e-6)
    lp.sum().backward()
    assert all((p.grad != 0).all() for p in table.parameters())
    np.testing.assert_allclose(table.mean(t64(out)).detach().numpy(), mean, rtol=1e-6)
    mask = np.random.default_rng(3).uniform(size=x.shape) < 0.5
    masked = table(t64(out), torch.as_tensor(mask)).log_prob(t64(x))
    np.testing.assert_allclose(masked.detach().numpy(), (logp * mask).sum(-1), rtol=1e-6)


def test_table_features_fill_check_and_sample():
    """Encoder features are per group ((x − c)/s, one-hot, log1p, x); ``fill`` puts a value in
    each column's support; ``check`` names the bad column; draws are (B, D) with codes."""
    table, _, _, out, x = table_setup()
    expected = np.concatenate([
        (x[:, [0, 4]] - [10.0, -1.0]) / [2.0, 0.5], np.eye(3)[x[:, 1].astype(int)],
        np.log1p(x[:, [2, 6]]), x[:, [3]], np.eye(4)[x[:, 5].astype(int)], x[:, [7]]], -1)
    feats = table.features(t64(x))
    assert feats.shape == (B, table.num_features)
    np.testing.assert_allclose(feats.numpy(), expected, rtol=1e-12)
    holes = x.copy()
    holes[np.arange(8) % B, np.arange(8)] = np.nan      # a hole in every column
    filled = table.fill(t64(holes)).numpy()
    observed = ~np.isnan(holes)
    assert not np.isnan(filled).any() and (filled[observed] == x[observed]).all()
    integer = filled[:, [1, 2, 5, 6]]
    assert (integer == np.round(integer)).all() and (integer >= 0).all()
    assert (filled[:, 1] <= 2).all() and (filled[:, 5] <= 3).all()
    assert ((0 <= filled[:, 3]) & (filled[:, 3] <= 1)).all()
    assert ((0 < filled[:, 7]) & (filled[:, 7] < 1)).all()
    assert torch.isfinite(table(t64(out)).log_prob(t64(filled))).all()
    assert table.check(t64(holes)) is not None
    bad = t64(x)
    bad[2, 1] = 3.0                                     # c1 has 3 levels: codes 0..2
    with pytest.raises(ValueError, match="column 'c1'.*likelihood 'categorical'"):
        table.check(bad)
    torch.manual_seed(0)
    assert table(t64(out)).sample().shape == (B, 8)
    draw = table(t64(out)).sample((200,))
    assert draw.shape == (200, B, 8)
    for col, levels in ((1, 3), (5, 4)):
        codes = draw[..., col]
        assert (codes == codes.round()).all() and ((codes >= 0) & (codes < levels)).all()
        assert len(codes.unique()) == levels
