"""The flow density model: the lecture's log-likelihood, the trainer trains every parameter,
maximum likelihood recovers a known density, and the flow is a VAE with delta encoder and
decoder."""

import pyro
import pyro.distributions as dist
import pytest
import torch
from pyro.infer import Trace_ELBO

from pyro_lvm import TrainConfig, Trainer
from pyro_lvm.flows import MAF, AffineCoupling, ConditionalIAF, ConditionalMAF, FlowDensity, LULinear, build_flow
from pyro_lvm.params import pyro_name

F64 = torch.float64
SPEC = "lu,maf,coupling,qr,iaf"


@pytest.fixture(autouse=True)
def clean_param_store():
    pyro.clear_param_store()
    yield
    pyro.clear_param_store()


def random_flow(dim=3, spec=SPEC, scale=0.3, seed=0):
    flow = FlowDensity(dim, build_flow(spec, dim, hidden=(8, 8), seed=seed)).to(F64)
    generator = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for p in flow.parameters():
            p.copy_(scale * torch.randn(p.shape, dtype=F64, generator=generator))
    return flow


def data(n=6, dim=3, seed=1):
    return torch.randn(n, dim, dtype=F64, generator=torch.Generator().manual_seed(seed))


def to_noise(flow, x):
    """``f(x)`` and ``log|det J_f(x)|``: the lecture's direction, data to noise."""
    z, log_det = x, 0.0
    for t in reversed(flow.transforms):
        u = t.inv(z)
        log_det = log_det - t.log_abs_det_jacobian(u, z)
        z = u
    return z, log_det


def to_data(flow, z):
    """``g(z) = f⁻¹(z)``: the generative direction."""
    for t in flow.transforms:
        z = t(z)
    return z


def test_log_prob_is_the_change_of_variables_formula():
    flow = random_flow()
    x = data()
    log_p = flow.log_prob(x)
    assert torch.allclose(log_p, flow.distribution().log_prob(x), atol=1e-10)
    for point, value in zip(x, log_p):
        jac = torch.autograd.functional.jacobian(lambda v: to_noise(flow, v)[0], point)
        z = to_noise(flow, point)[0]
        expected = dist.Normal(0.0, 1.0).log_prob(z).sum() + torch.linalg.slogdet(jac).logabsdet
        assert torch.allclose(value, expected, atol=1e-10)


def test_samples_shapes_devices_and_gradients():
    flow = random_flow()
    drawn = flow.rsample(7)
    assert drawn.shape == (7, 3) and drawn.dtype == F64 and drawn.requires_grad
    assert not flow.sample(5).requires_grad
    assert torch.isfinite(flow.log_prob(drawn)).all()
    assert flow.distribution().event_shape == (3,)
    assert "base_loc" not in flow.state_dict()


def test_trace_elbo_is_the_negative_log_likelihood_with_subsampling_and_particles():
    flow = random_flow()
    x = data(8)
    log_p = flow.log_prob(x).detach()
    assert Trace_ELBO().loss(flow.model, flow.guide, x) == pytest.approx(-log_p.sum().item())
    scaled = Trace_ELBO().loss(flow.model, flow.guide, x[:4], indices=torch.arange(4), num_data=8)
    assert scaled == pytest.approx(-2 * log_p[:4].sum().item())
    vectorized = Trace_ELBO(num_particles=3, vectorize_particles=True, max_plate_nesting=1)
    assert vectorized.loss(flow.model, flow.guide, x) == pytest.approx(-log_p.sum().item())


def test_the_trainer_changes_every_parameter_of_two_flows_in_one_process():
    x, names, flows = torch.randn(32, 3), set(), []
    for seed in (0, 1):  # a second flow with the same parameter names must train too
        flow = FlowDensity(3, build_flow(SPEC, 3, hidden=(8, 8), seed=seed))
        flows.append(flow)  # both alive: their names must differ
        before = {name: p.detach().clone() for name, p in flow.named_parameters()}
        # zero-initialised output layers: hidden layers move from step 2 on
        Trainer(flow, TrainConfig(epochs=3, batch_size=32, learning_rate=0.01),
                device="cpu").fit(x)
        unchanged = [name for name, p in flow.named_parameters()
                     if torch.equal(p, before[name])]
        assert not unchanged, f"the trainer did not train {unchanged}"
        # Pyro's parameter store holds this flow's own tensors, under a name of its own.
        store, prefix = pyro.get_param_store(), pyro_name(flow)
        assert all(store[f"{prefix}$$${name}"] is p for name, p in flow.named_parameters())
        names.add(prefix)
    assert len(names) == 2


@pytest.mark.parametrize("sign", [-1.0, 1.0], ids=["log_density=-logdet", "log_density=+logdet"])
def test_flow_log_likelihood_is_the_elbo_of_a_vae_with_delta_encoder_and_decoder(sign):
    """SurVAE view: q(z|x) = δ(z - f(x)), p(x|z) = δ(x - f⁻¹(z)) make the ELBO equal log p(x).

    Pyro's ``Delta`` scores its own point with ``log_density``, so the ELBO is
    ``log N(f(x)) + 0 - log_density``; it equals ``log N(f(x)) + log|det J_f(x)|`` exactly when
    ``log_density = -log|det J_f(x)|`` (the density of z = f(x) picks up the inverse volume).
    """
    flow = random_flow()
    x = data()
    decoded = []

    def model(x):
        with pyro.plate("data", x.shape[0]):
            z = pyro.sample("z", dist.Normal(torch.zeros(3, dtype=F64), 1.0).to_event(1))
            x_hat = to_data(flow, z)
            decoded.append(x_hat)
            # f⁻¹(f(x)) equals x up to rounding; Delta compares with ==, so snap the rounding.
            snapped = torch.where(torch.isclose(x_hat, x, rtol=0.0, atol=1e-9), x, x_hat)
            pyro.sample("x", dist.Delta(snapped, event_dim=1), obs=x)

    def guide(x):
        z, log_det = to_noise(flow, x)
        with pyro.plate("data", x.shape[0]):
            pyro.sample("z", dist.Delta(z, log_density=sign * log_det, event_dim=1))

    elbo = torch.tensor([-Trace_ELBO().loss(model, guide, point[None]) for point in x], dtype=F64)
    assert torch.allclose(torch.cat(decoded), x, atol=1e-9)
    log_p = flow.log_prob(x).detach()
    if sign < 0:
        assert torch.allclose(elbo, log_p, atol=1e-9)
    else:
        assert torch.allclose(elbo, log_p - 2 * to_noise(flow, x)[1].detach(), atol=1e-9)


def test_conditional_layers_work_in_pyro_conditional_distributions():
    torch.manual_seed(0)
    layers = build_flow("iaf,lu,coupling", 3, hidden=(8, 8), context_dim=2)
    for layer in layers:
        layer.to(F64)
        with torch.no_grad():
            for p in layer.parameters():
                p.normal_(0.0, 0.3)
    base = dist.Normal(torch.zeros(3, dtype=F64), 1.0).to_event(1)
    context = torch.randn(4, 2, dtype=F64)
    flow = dist.ConditionalTransformedDistribution(base, layers).condition(context)
    x = flow.rsample()
    z, log_det = x, 0.0
    for layer in reversed(layers):
        t = layer.condition(context) if hasattr(layer, "condition") else layer
        u = t._inverse(z)  # no cache: the D-pass inverse of the IAF
        log_det = log_det - t.log_abs_det_jacobian(u, z)
        z = u
    assert torch.allclose(flow.log_prob(x), base.log_prob(z) + log_det, atol=1e-9)


def test_an_iaf_guide_scores_its_own_samples_in_one_pass():
    """In a guide, Trace_ELBO samples z and then scores it: the cache makes that one MADE pass."""
    iaf = ConditionalIAF(2, 3, (8, 8)).to(F64)
    passes = []
    iaf.made.register_forward_hook(lambda *_: passes.append(1))
    x = torch.randn(5, 3, dtype=F64)

    def model(x):
        with pyro.plate("data", 5):
            z = pyro.sample("z", dist.Normal(torch.zeros(2, dtype=F64), 1.0).to_event(1))
            pyro.sample("x", dist.Normal(z.sum(-1, keepdim=True).expand(5, 3), 1.0).to_event(1), obs=x)

    def guide(x):
        pyro.module("iaf", iaf)
        base = dist.Normal(torch.zeros(2, dtype=F64), 1.0).to_event(1)
        with pyro.plate("data", 5):
            pyro.sample("z", dist.ConditionalTransformedDistribution(base, [iaf]).condition(x))

    loss = Trace_ELBO().differentiable_loss(model, guide, x)
    loss.backward()
    assert len(passes) == 1
    assert all(p.grad is not None for p in iaf.parameters())


def _banana(n, generator):
    x1 = torch.randn(n, dtype=F64, generator=generator)
    x2 = x1.square() / 2 + 0.5 * torch.randn(n, dtype=F64, generator=generator)
    return torch.stack([x1, x2], dim=-1)


def _banana_log_prob(x):
    normal = torch.distributions.Normal
    return normal(0.0, 1.0).log_prob(x[:, 0]) + normal(x[:, 0].square() / 2, 0.5).log_prob(x[:, 1])


@pytest.mark.slow
@pytest.mark.parametrize(
    "layer",
    [lambda: MAF(2, (64, 64)), lambda: AffineCoupling(2, (64, 64), mask=[True, False])],
    ids=["maf", "coupling"],
)
@pytest.mark.slow
def test_maximum_likelihood_recovers_a_density_one_affine_layer_represents(layer):
    """x1 ~ N(0, 1), x2 | x1 ~ N(x1²/2, 0.5²): one affine layer with m(x1) = x1²/2, s = log 0.5."""
    generator = torch.Generator().manual_seed(0)
    train, held_out = _banana(4000, generator), _banana(4000, generator)
    torch.manual_seed(0)
    flow = FlowDensity(2, [layer()]).to(F64)
    optimizer = torch.optim.Adam(flow.parameters(), lr=3e-3)
    steps = 400
    schedule = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, steps)
    for _ in range(steps):
        batch = train[torch.randint(0, len(train), (500,), generator=generator)]
        loss = -flow.log_prob(batch).mean()
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        schedule.step()
    with torch.no_grad():
        gap = _banana_log_prob(held_out).mean() - flow.log_prob(held_out).mean()
    assert abs(gap.item()) < 0.05, f"held-out mean log-likelihood {gap.item():.3f} nats from the truth"


def test_bad_transforms_and_data_are_named():
    conditional = r"transforms\[1\]: got ConditionalMAF, expected an unconditional transform \(a FlowDensity has no context\)"
    with pytest.raises(TypeError, match=conditional):
        FlowDensity(3, [LULinear(3), ConditionalMAF(3, 2, (8,))])
    with pytest.raises(ValueError, match=r"transforms\[0\]: .* expected a transform of vectors of size dim=3"):
        FlowDensity(3, [LULinear(4)])
    flow = FlowDensity(3, [LULinear(3)])
    with pytest.raises(ValueError, match=r"x\.shape: got \(5, 2\), expected \(\.\.\., 3\)"):
        flow.log_prob(torch.zeros(5, 2))
    with pytest.raises(ValueError, match=r"x\.shape: got \(3,\), expected \(batch, 3\)"):
        flow.model(torch.zeros(3))
    with pytest.raises(ValueError, match=r"n: got 0, expected an integer >= 1"):
        flow.sample(0)
