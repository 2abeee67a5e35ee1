"""One VAE training step: pyro_lvm against a hand-written PyTorch step, side by side.

Model: 784 -> 400 -> 50 (encoder, softplus), 50 -> 400 -> 784 (decoder), Bernoulli likelihood,
batch 128, fused Adam(lr=1e-3) as the trainer uses, 2 threads.  The reference is the physical
limit for this model: the same networks and optimizer with the KL term in closed form and no
probabilistic-programming layer.  Every variant is timed in the same process, in interleaved
rounds, and reported as the median over rounds of its time divided by the reference's time in
the same round.

The importance-weighted bound (``elbo="iwae"``, K = ``--particles``) is timed the same way, in
the same rounds, against its own hand-written reference for each K: the same networks and
optimizer, K reparametrized draws per row, log w_ik = log p(x_i | z_ik) + log p(z_ik) −
log q(z_ik | x_i) and the loss −(N / B) Σ_i [logsumexp_k log w_ik − log K].

    python benchmarks/svi_step.py [--rounds 7] [--steps 40] [--particles 5,50] [--device cuda]
"""

import argparse
import math
import os
import statistics
import time
import warnings

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")  # before torch loads (docs/benchmarks.md)

import pyro
import pyro.distributions as dist
import torch
from pyro import poutine
from pyro.infer import SVI, JitTrace_ELBO, Trace_ELBO
from pyro.infer.autoguide import AutoGuideList, AutoNormal
from torch import nn
from torch.nn import functional as F

from pyro_lvm import VAE, TrainConfig, Trainer, data_plate
from pyro_lvm.nn import positive

D, H, Z, B, N = 784, 400, 50, 128, 4096


def reference_step(vae, fused=True):
    """Pure PyTorch: the same modules, reparametrized z, closed-form KL, one Adam step."""
    encoder, decoder = vae.guide.net, vae.decoder
    optimizer = torch.optim.Adam(vae.parameters(), lr=1e-3, fused=fused)

    def step(x, indices, num_data):
        loc, raw = encoder(x).chunk(2, -1)
        scale = positive(raw)
        z = loc + scale * torch.randn_like(scale)
        log_lik = -F.binary_cross_entropy_with_logits(decoder(z), x, reduction="none").sum(-1)
        kl = 0.5 * (loc ** 2 + scale ** 2 - 1 - 2 * scale.log()).sum(-1)
        loss = -(log_lik - kl).sum() * (num_data / x.shape[0])
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        return loss.detach()

    return step


def reference_iwae_step(vae, particles, fused=True):
    """Pure PyTorch IWAE: the same modules, K reparametrized draws z = μ + σ ε per row, the
    bound log (1/K) Σ_k w_ik per row, one Adam step (the scale N / B as the package's)."""
    encoder, decoder = vae.guide.net, vae.decoder
    optimizer = torch.optim.Adam(vae.parameters(), lr=1e-3, fused=fused)
    half_log_2pi = 0.5 * math.log(2 * math.pi)

    def step(x, indices, num_data):
        loc, raw = encoder(x).chunk(2, -1)
        scale = positive(raw)
        eps = torch.randn((particles, *scale.shape), dtype=scale.dtype, device=scale.device)
        z = loc + scale * eps  # (K, B, Z)
        logits = decoder(z)
        log_lik = -F.binary_cross_entropy_with_logits(logits, x.expand_as(logits),
                                                      reduction="none").sum(-1)
        log_prior = -(0.5 * z ** 2 + half_log_2pi).sum(-1)
        log_q = -(0.5 * eps ** 2 + scale.log() + half_log_2pi).sum(-1)
        bound = (log_lik + log_prior - log_q).logsumexp(0) - math.log(particles)
        loss = -bound.sum() * (num_data / x.shape[0])
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        return loss.detach()

    return step


def package_step(vae, **config):
    """``Trainer.step``, exactly what ``fit`` runs for each minibatch."""
    device = next(vae.buffers()).device
    trainer = Trainer(vae, TrainConfig(batch_size=B, **config), device=device)
    return trainer.step


def pyro_svi_step(vae):
    """``pyro.infer.SVI`` with ``pyro.optim.Adam`` straight on the package's model and guide
    (which register their networks in Pyro's parameter store): what a Pyro user writes."""
    pyro.clear_param_store()
    svi = SVI(vae.model, vae.guide, pyro.optim.Adam({"lr": 1e-3}), Trace_ELBO())
    return svi.step


def pyro_jit_svi_step(vae):
    """The same with Pyro's compiled ``JitTrace_ELBO``, which traces tensor arguments only:
    the data set's size is bound into the model and guide."""
    pyro.clear_param_store()

    def model(x, indices):
        return vae.model(x, indices, N)

    def guide(x, indices):
        return vae.guide(x, indices, N)

    svi = SVI(model, guide, pyro.optim.Adam({"lr": 1e-3}), JitTrace_ELBO(max_plate_nesting=1))
    return lambda x, indices, num_data: svi.step(x, indices)


class GlobalBiasVAE(nn.Module):
    """The VAE with a global latent: a bias b ~ N(0, I_D) of the decoder's logits, outside the
    plate, with ``AutoNormal`` for b and the VAE's encoder for z (an ``AutoGuideList``)."""

    def __init__(self, vae):
        super().__init__()
        self.vae = vae
        blocked = poutine.block(self.model, hide=["z"])
        self.guide = AutoGuideList(blocked)
        self.guide.append(AutoNormal(blocked))
        self.guide.append(vae.guide)

    def model(self, x, indices=None, num_data=None):
        bias = pyro.sample("b", dist.Normal(x.new_zeros(x.shape[-1]), 1.0).to_event(1))
        with data_plate(x, indices, num_data):
            z = pyro.sample("z", self.vae.prior())
            logits = self.vae.decoder(z) + bias
            pyro.sample("x", dist.Bernoulli(logits=logits, validate_args=False).to_event(1),
                        obs=x)


VARIANTS = {
    "pure PyTorch (reference)": reference_step,
    "pure PyTorch, per-parameter Adam": lambda vae: reference_step(vae, fused=False),
    "pyro_lvm default (DeviceTraceELBO, traced)": package_step,
    "pyro_lvm --no-jit (DeviceTraceELBO, eager)": lambda vae: package_step(vae, jit=False),
    "pyro_lvm --elbo meanfield (closed-form KL, traced)":
        lambda vae: package_step(vae, elbo="meanfield"),
    "pyro_lvm, global bias with AutoNormal (AutoGuideList, eager)":
        lambda vae: package_step(GlobalBiasVAE(vae)),
    "pyro.infer.SVI + pyro.optim.Adam": pyro_svi_step,
    "pyro.infer.SVI + JitTrace_ELBO": pyro_jit_svi_step,
}


def iwae_variants(particles):
    """``{K: {"reference": make, "package": make}}``: the IWAE step and its reference."""
    return {k: {"reference": lambda vae, k=k: reference_iwae_step(vae, k),
                "package": lambda vae, k=k: package_step(vae, elbo="iwae", num_particles=k)}
            for k in particles}


def time_steps(step, data, steps):
    n = data.shape[0]
    finish = torch.cuda.synchronize if data.is_cuda else (lambda: None)
    finish()
    start = time.perf_counter()
    for i in range(steps):
        lo = (i * B) % (n - B)
        step(data[lo:lo + B], torch.arange(lo, lo + B, device=data.device), n)
    finish()
    return (time.perf_counter() - start) / steps


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--steps", type=int, default=40)
    parser.add_argument("--particles", default="5,50",
                        help="K of the IWAE steps, comma-separated (empty: none)")
    parser.add_argument("--device", default="cpu")
    args = parser.parse_args()
    particles = [int(k) for k in args.particles.split(",") if k]
    torch.set_num_threads(2)
    pyro.set_rng_seed(0)
    data = (torch.rand(N, D) < 0.3).float().to(args.device)
    print(f"device {data.device}, torch {torch.__version__}, {torch.get_num_threads()} threads, "
          f"OMP_WAIT_POLICY={os.environ['OMP_WAIT_POLICY']}, load average "
          f"{', '.join(f'{v:.2f}' for v in os.getloadavg())}, {args.rounds} rounds of "
          f"{args.steps} steps")
    makers = dict(VARIANTS)
    for k, pair in iwae_variants(particles).items():
        makers.update({(k, role): make for role, make in pair.items()})
    steps = {}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for name, make in makers.items():
            steps[name] = make(VAE(D, latent_dim=Z, hidden=(H,)).to(args.device))
            time_steps(steps[name], data, 15)  # warm-up (and the JIT trace)
        times = {name: [] for name in makers}
        for _ in range(args.rounds):
            for name, step in steps.items():
                times[name].append(time_steps(step, data, args.steps))
    reference = times["pure PyTorch (reference)"]
    print("| variant | median ms/step | ratio to reference |\n|---|---|---|")
    for name in VARIANTS:
        values = times[name]
        ratio = statistics.median(v / r for v, r in zip(values, reference))
        print(f"| {name} | {statistics.median(values) * 1e3:.2f} | {ratio:.2f}x |")
    if particles:
        print("\n| IWAE, K | pure PyTorch IWAE (reference) ms/step | pyro_lvm `elbo=\"iwae\"` "
              "(traced) ms/step | ratio to reference |\n|---|---|---|---|")
        for k in particles:
            ours, ref = times[(k, "package")], times[(k, "reference")]
            ratio = statistics.median(v / r for v, r in zip(ours, ref))
            print(f"| {k} | {statistics.median(ref) * 1e3:.2f} | "
                  f"{statistics.median(ours) * 1e3:.2f} | {ratio:.2f}x |")


if __name__ == "__main__":
    main()
