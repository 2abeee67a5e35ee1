"""The trainer: resume equals straight training, divergence keeps the checkpoint, seeds repeat."""

import os
import stat

import pyro
import pyro.distributions as dist
import pytest
import torch
from pyro.distributions.torch_transform import TransformModule
from torch.distributions import constraints

from pyro_lvm import VAE, TrainConfig, Trainer, TrainingDiverged, data_plate, load_checkpoint
from pyro_lvm.checkpoint import save_checkpoint, write_json


def _data(n=64, d=10, seed=0):
    g = torch.Generator().manual_seed(seed)
    return (torch.rand(n, d, generator=g) < 0.3).float()


def _trainer(epochs, seed=0, **kwargs):
    torch.manual_seed(123)  # the same initial weights for every trainer in a test
    vae = VAE(10, latent_dim=2, hidden=(8,))
    return Trainer(vae, TrainConfig(epochs=epochs, batch_size=16, seed=seed, **kwargs),
                   device="cpu")


def _params(trainer):
    return {k: v.clone() for k, v in trainer.lvm.state_dict().items()}


def test_resume_two_plus_two_equals_four(tmp_path):
    x, test = _data(), _data(seed=1)[:16]
    straight = _trainer(4)
    straight.fit(x, test)
    first = _trainer(2)
    first.fit(x, test, checkpoint=tmp_path / "ckpt.pt")
    resumed = _trainer(4).resume(tmp_path / "ckpt.pt")
    assert resumed.epoch == 2
    resumed.fit(x, test)
    for name, value in _params(straight).items():
        assert torch.equal(value, resumed.lvm.state_dict()[name]), name
    for got, expected in zip(resumed.history, straight.history):
        assert got["epoch"] == expected["epoch"]
        assert got["train_elbo"] == expected["train_elbo"]
        assert got["test_elbo"] == expected["test_elbo"]


def test_same_seed_same_numbers_other_seed_other_numbers():
    x = _data()
    a, b, c = _trainer(2, seed=5), _trainer(2, seed=5), _trainer(2, seed=6)
    for t in (a, b, c):
        t.fit(x)
    assert [h["train_elbo"] for h in a.history] == [h["train_elbo"] for h in b.history]
    assert [h["train_elbo"] for h in a.history] != [h["train_elbo"] for h in c.history]


def test_divergence_names_the_epoch_and_keeps_the_last_good_checkpoint(tmp_path):
    path = tmp_path / "ckpt.pt"
    trainer = _trainer(1)
    trainer.fit(_data(), checkpoint=path)
    good = path.read_bytes()
    trainer.config.epochs = 3
    original = trainer.loss

    def poisoned(x, indices, num_data):
        loss = original(x, indices, num_data)
        return loss * float("nan") if trainer.epoch >= 1 else loss

    trainer.loss = poisoned
    with pytest.raises(TrainingDiverged, match="at epoch 2, step 1"):
        trainer.fit(_data(), checkpoint=path)
    assert path.read_bytes() == good
    assert load_checkpoint(path)["epoch"] == 1


def test_history_is_in_nats_per_example_and_has_test_elbo():
    trainer = _trainer(3)
    history = trainer.fit(_data(), _data(seed=2)[:20])
    assert [h["epoch"] for h in history] == [1, 2, 3]
    # 10 binary pixels: an ELBO per example is of the order of -10 log 2, not -64 * that.
    assert all(-15 < h["train_elbo"] < -2 and -15 < h["test_elbo"] < -2 for h in history)


def test_gradient_clipping_bounds_the_update():
    trainer = _trainer(1, clip_norm=1e-3)
    x = _data()
    trainer.loss(x[:16], torch.arange(16), 64).backward()
    trainer.optimizer.zero_grad()
    trainer.step(x[:16], torch.arange(16), 64)
    norm = torch.sqrt(sum((p.grad ** 2).sum() for p in trainer.lvm.parameters()))
    assert float(norm) <= 1e-3 * 1.0001


def test_a_count_of_the_wrong_kind_is_a_type_error():
    with pytest.raises(TypeError, match="batch_size: got float, expected an integer >= 1"):
        TrainConfig(batch_size=2.5)
    with pytest.raises(TypeError, match="epochs: got bool"):
        TrainConfig(epochs=True)


@pytest.mark.parametrize("kwargs,match", [
    ({"epochs": 0}, "epochs: got 0"),
    ({"learning_rate": -1.0}, "learning_rate: got -1.0"),
    ({"elbo": "renyi"}, "elbo: got 'renyi'"),
    ({"num_particles": 0}, "num_particles: got 0"),
    ({"clip_norm": 0}, "clip_norm: got 0"),
    ({"seed": -3}, "seed: got -3"),
])
def test_bad_config(kwargs, match):
    with pytest.raises(ValueError, match=match):
        TrainConfig(**kwargs)


def test_bad_data_and_devices():
    trainer = _trainer(1)
    with pytest.raises(ValueError, match=r"batch_size: got 16, expected at most the number of "
                                         r"training rows \(8\)"):
        trainer.fit(_data()[:8])
    with pytest.raises(TypeError, match="train: got list"):
        trainer.fit([[0.0] * 10] * 32)
    if not torch.cuda.is_available():
        with pytest.raises(ValueError, match="device: got 'cuda'"):
            Trainer(VAE(10), device="cuda")


def test_checkpoint_write_is_atomic_and_loading_is_weights_only(tmp_path, monkeypatch):
    path = tmp_path / "ckpt.pt"
    save_checkpoint({"value": torch.ones(3)}, path)
    before = path.read_bytes()

    def crash(obj, handle):
        handle.write(b"partial")
        raise OSError("disk full")

    monkeypatch.setattr(torch, "save", crash)
    with pytest.raises(OSError, match="disk full"):
        save_checkpoint({"value": torch.zeros(3)}, path)
    monkeypatch.undo()
    assert path.read_bytes() == before
    assert list(tmp_path.iterdir()) == [path]  # no temporary file left behind
    # A file holding an arbitrary Python object is refused, never unpickled.
    evil = tmp_path / "evil.pt"
    torch.save({"format_version": 1, "obj": _Evil()}, evil)
    with pytest.raises(ValueError, match="checkpoint: got .*evil.pt"):
        load_checkpoint(evil)
    write_json({"a": 1}, tmp_path / "m.json")
    assert (tmp_path / "m.json").read_text().strip() == '{\n  "a": 1\n}'


@pytest.mark.parametrize("umask, mode", [(0o022, 0o644), (0o077, 0o600), (0o002, 0o664)])
def test_atomic_writes_keep_the_mode_open_would_give(tmp_path, umask, mode):
    previous = os.umask(umask)
    try:
        written = [save_checkpoint({"a": torch.ones(1)}, tmp_path / "c.pt"),
                   write_json({"a": 1}, tmp_path / "m.json")]
        (tmp_path / "plain").write_text("x")
        assert os.umask(umask) == umask  # the umask is left as it was
    finally:
        os.umask(previous)
    assert stat.S_IMODE((tmp_path / "plain").stat().st_mode) == mode
    assert [stat.S_IMODE(path.stat().st_mode) for path in written] == [mode, mode]


class _Evil:
    pass


def _vae():
    return VAE(10, latent_dim=2, hidden=(8,))


def _vae_with_flow_guide():
    return VAE(10, latent_dim=2, hidden=(8,), guide="flow:iaf,lu,coupling")


@pytest.mark.parametrize("elbo", ["trace", "meanfield"])
@pytest.mark.parametrize("make", [_vae, _vae_with_flow_guide], ids=["vae", "flow-guide"])
def test_the_compiled_loss_is_the_eager_loss_bit_for_bit_after_the_parameters_move(make, elbo):
    from pyro_lvm.infer.objectives import CompiledNegativeELBO, NegativeELBO, make_elbo
    torch.manual_seed(0)
    vae = make()
    for p in vae.parameters():  # move the zero-initialised flow layers off the identity
        p.data.add_(0.1 * torch.randn_like(p))
    eager = NegativeELBO(vae, make_elbo(elbo))
    compiled = CompiledNegativeELBO(eager)
    x, indices = _data(), torch.arange(64)
    optimizer = torch.optim.Adam(vae.parameters(), lr=0.1)
    for step in range(4):
        torch.manual_seed(step)
        expected = eager(x, indices, 128)
        expected_grads = torch.autograd.grad(expected, list(vae.parameters()))
        torch.manual_seed(step)
        loss = compiled(x, indices, 128)
        grads = torch.autograd.grad(loss, list(vae.parameters()), retain_graph=True)
        assert loss.item() == expected.item()
        for g, e in zip(grads, expected_grads):
            assert torch.equal(g, e)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()  # a frozen constant in the trace would show at the next step


def test_jit_is_automatic_for_built_in_models_only():
    from test_vae import StudentTGuide
    assert _trainer(1).compiled and _trainer(1, elbo="meanfield").compiled
    custom = VAE(10, latent_dim=2, hidden=(8,), guide=StudentTGuide(10, 2))
    assert not Trainer(custom, TrainConfig(epochs=1), device="cpu").compiled


class _Shift(TransformModule):
    """A user's own transform z -> z + b, without torch's scalar ``sign``: converting it to
    TorchScript asks ``hasattr(layer, "sign")``, which raises ``NotImplementedError``."""

    domain = codomain = constraints.real_vector
    bijective = True

    def __init__(self, dim):
        super().__init__()
        self.shift = torch.nn.Parameter(torch.zeros(dim))

    def _call(self, x):
        return x + self.shift

    def _inverse(self, y):
        return y - self.shift

    def log_abs_det_jacobian(self, x, y):
        return x.new_zeros(x.shape[:-1])


class _ShiftedGuide(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.net = torch.nn.Linear(10, 4)
        self.shift = _Shift(2)

    def forward(self, x, indices=None, num_data=None):
        loc, raw = self.net(x).chunk(2, -1)
        base = dist.Normal(loc, torch.nn.functional.softplus(raw) + 1e-3).to_event(1)
        with data_plate(x, indices, num_data):
            pyro.sample("z", dist.TransformedDistribution(base, [self.shift]))


def test_a_model_that_cannot_be_traced_trains_eagerly_with_a_warning():
    vae = VAE(10, latent_dim=2, hidden=(8,), guide=_ShiftedGuide())
    trainer = Trainer(vae, TrainConfig(epochs=1, batch_size=16, jit=True), device="cpu")
    with pytest.warns(UserWarning, match="jit: could not trace the loss"):
        trainer.fit(_data())
    assert len(trainer.history) == 1


def _crafted(tmp_path, change):
    path = tmp_path / "ckpt.pt"
    _trainer(1).fit(_data(), checkpoint=path)
    state = load_checkpoint(path)
    change(state)
    save_checkpoint({k: v for k, v in state.items() if k != "format_version"}, path)
    return path


def _moments_of_the_wrong_shape(state):
    # the reproduction: handed to fused Adam, these crashed the process
    state["optimizer"]["state"] = {0: {"step": torch.tensor(1.0), "exp_avg": torch.zeros(2),
                                       "exp_avg_sq": torch.zeros(2)}}


@pytest.mark.parametrize("change,match", [
    (_moments_of_the_wrong_shape, r"optimizer 'exp_avg' of decoder\.0\.weight of shape \(2,\)"),
    (lambda s: s["model"].__setitem__("decoder.0.weight", torch.zeros(3, 3)),
     r"model entry 'decoder\.0\.weight' of shape \(3, 3\)"),
    (lambda s: s["model"].pop("decoder.0.bias"), r"missing \['decoder\.0\.bias'\]"),
    (lambda s: s["optimizer"]["param_groups"].append({"params": [99]}),
     r"optimizer groups of sizes \[\d+, 1\]"),
    (lambda s: s["optimizer"]["state"].__setitem__(99, {}), "optimizer state for parameter 99"),
    (lambda s: s.__setitem__("history", "nothing"), "history = 'nothing'"),
    (lambda s: s.__setitem__("rng", {"cpu": torch.zeros(3)}), "an RNG state of the wrong form"),
    (lambda s: s.__setitem__("parameters", "all"), "optimizer tensor names of the wrong form"),
])
def test_a_crafted_checkpoint_is_one_clear_error_before_anything_is_used(tmp_path, change, match):
    path = _crafted(tmp_path, change)
    trainer = _trainer(2)
    before = _params(trainer)
    with pytest.raises(ValueError, match="^checkpoint: got .*" + match):
        trainer.resume(path)
    assert all(torch.equal(v, trainer.lvm.state_dict()[k]) for k, v in before.items())
