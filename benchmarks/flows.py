"""Time pyro_lvm's flow layers against a dense layer, Pyro, nflows and zuko, side by side.

    python benchmarks/flows.py [--rounds N] [--threads T] [--device cuda]

Each case is one training step of one layer on a batch of 1024: the value, its log-det and a
backward pass through ``sum(y²) + sum(log-det)``. Our layers and zuko's are called through
their one-pass ``call_and_ladj`` (ours: ``inv_and_ladj`` for the inverse direction); Pyro's as
torch does, ``t(x)`` then ``t.log_abs_det_jacobian(x, y)`` (its cache serves the second call);
nflows' layers return the pair. The spline groups use 8 bins on [-5, 5] for every library. Cases run round-robin (so that a noisy
neighbour slows all of them alike) after a warm-up; the table gives the median time and the
ratio to the group's reference. nflows and zuko are optional (``pip install .[bench]``); their
rows are skipped when they are not importable.

Before torch is imported the script sets ``OMP_WAIT_POLICY=PASSIVE`` unless it is set already:
on this 2-core machine, when another process holds a core, OpenMP's default spin-then-sleep
barrier turned every small parallel op into a 16 ms wait (a 1024 x 16 matmul took 16 ms instead
of 0.03 ms), which swamped every difference measured here.
"""

import argparse
import os
import statistics
import time
from typing import Callable, NamedTuple

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

import torch  # noqa: E402
import torch.nn.functional as F  # noqa: E402
from pyro.distributions.transforms import AffineAutoregressive  # noqa: E402
from pyro.distributions.transforms import AffineCoupling as PyroCoupling  # noqa: E402
from pyro.distributions.transforms import spline_autoregressive, spline_coupling  # noqa: E402
from pyro.nn import AutoRegressiveNN, DenseNN  # noqa: E402

from pyro_lvm.flows import IAF, MAF, AffineCoupling, LULinear, QRLinear, RationalQuadraticSpline  # noqa: E402

BATCH = 1024
NET_DIM = 64
HIDDEN = (256, 256)
BINS, BOUND = 8, 5.0

try:
    from nflows.nn.nets import MLP as NflowsMLP
    from nflows.transforms import AffineCouplingTransform, MaskedAffineAutoregressiveTransform
    from nflows.transforms import LULinear as NflowsLU
    from nflows.transforms import MaskedPiecewiseRationalQuadraticAutoregressiveTransform as NflowsNSF
    from nflows.transforms import PiecewiseRationalQuadraticCouplingTransform as NflowsSplineCoupling
    from nflows.transforms import QRLinear as NflowsQR
except ImportError:
    NflowsLU = None
try:
    import zuko
except ImportError:
    zuko = None


def perturb_(module, scale=0.05):
    """Small random parameters, so that no layer runs at its (special) identity start."""
    generator = torch.Generator().manual_seed(0)
    with torch.no_grad():
        for p in module.parameters():
            p.add_(scale * torch.randn(p.shape, generator=generator))
    return module


def transform(layer, inverse=False):
    """A Pyro-style transform (ours or Pyro's): the value, then the log-det of that call."""
    t = perturb_(layer).inv if inverse else perturb_(layer)

    def call(x):
        y = t(x)
        return y, t.log_abs_det_jacobian(x, y)

    return call, list(layer.parameters())


def one_pass(layer, inverse=False):
    """Ours: ``call_and_ladj`` (or ``inv_and_ladj``), value and log-det from one pass."""
    t = perturb_(layer)
    return (t.inv_and_ladj if inverse else t.call_and_ladj), list(layer.parameters())


def returns_pair(layer):
    """nflows: ``layer(x)`` is ``(y, log-det)``."""
    return perturb_(layer), list(layer.parameters())


def zuko_layer(lazy):
    perturb_(lazy)
    return lambda x: lazy().call_and_ladj(x), list(lazy.parameters())


class _IgnoreContext(torch.nn.Module):
    """nflows' coupling calls ``net(x, context)``; its plain MLP takes ``x`` only."""

    def __init__(self, net):
        super().__init__()
        self.net = net

    def forward(self, x, context=None):
        return self.net(x)


def dense(dim):
    noise = torch.randn(dim, dim, generator=torch.Generator().manual_seed(0))
    weight = torch.nn.Parameter(torch.eye(dim) + 0.05 * noise)
    return lambda x: (F.linear(x, weight), torch.linalg.slogdet(weight).logabsdet.expand(x.shape[:-1])), [weight]


class Case(NamedTuple):
    name: str
    make: Callable  # () -> (call, parameters); call(x) -> (y, log-det)
    reference: bool = False  # a row ours is measured against
    sequential: bool = False  # D network passes: timed on its own, fewer rounds


def linear_cases(dim):
    cases = [
        Case("dense + slogdet", lambda: dense(dim), reference=True),
        Case("ours LU (forward: W x)", lambda: one_pass(LULinear(dim))),
        Case("ours LU (inverse: 2 triangular solves)", lambda: one_pass(LULinear(dim), inverse=True)),
        Case("ours QR (forward: W x)", lambda: one_pass(QRLinear(dim))),
        Case("ours QR (inverse: Qᵀ y + 1 solve)", lambda: one_pass(QRLinear(dim), inverse=True)),
    ]
    if NflowsLU is not None:
        cases += [
            Case("nflows LULinear", lambda: returns_pair(NflowsLU(dim))),
            Case("nflows QRLinear (D reflections)", lambda: returns_pair(NflowsQR(dim, num_householder=dim))),
        ]
    return cases


def pyro_autoregressive():
    return AffineAutoregressive(AutoRegressiveNN(NET_DIM, list(HIDDEN)))


def maf_density_cases():
    cases = [
        Case("ours MAF density (one pass)", lambda: one_pass(MAF(NET_DIM, HIDDEN), inverse=True)),
        Case("Pyro AffineAutoregressive density (its inverse: D passes)",
             lambda: transform(pyro_autoregressive(), inverse=True), reference=True, sequential=True),
        Case("Pyro AffineAutoregressive turned into a MAF with .inv (one pass)",
             lambda: transform(pyro_autoregressive()), reference=True),
    ]
    if NflowsLU is not None:
        cases.append(Case("nflows MaskedAffineAutoregressiveTransform", lambda: returns_pair(
            MaskedAffineAutoregressiveTransform(NET_DIM, HIDDEN[0], num_blocks=len(HIDDEN) - 1,
                                                use_residual_blocks=False)), reference=True))
    if zuko is not None:
        cases.append(Case("zuko MaskedAutoregressiveTransform", lambda: zuko_layer(
            zuko.flows.MaskedAutoregressiveTransform(NET_DIM, hidden_features=HIDDEN)), reference=True))
    return cases


def iaf_sampling_cases():
    return [
        Case("ours IAF sampling (one pass)", lambda: one_pass(IAF(NET_DIM, HIDDEN))),
        Case("Pyro AffineAutoregressive sampling (one pass)", lambda: transform(pyro_autoregressive()),
             reference=True),
        Case("ours MAF sampling (D passes, for contrast)", lambda: one_pass(MAF(NET_DIM, HIDDEN)), sequential=True),
    ]


def coupling_cases():
    half = NET_DIM // 2
    cases = [
        Case("ours AffineCoupling (halves)", lambda: one_pass(AffineCoupling(NET_DIM, HIDDEN))),
        Case("Pyro AffineCoupling", lambda: transform(PyroCoupling(half, DenseNN(half, list(HIDDEN), [half, half]))),
             reference=True),
    ]
    if NflowsLU is not None:
        mask = torch.arange(NET_DIM) < half
        cases.append(Case("nflows AffineCouplingTransform", lambda: returns_pair(AffineCouplingTransform(
            mask.int(), lambda n_in, n_out: _IgnoreContext(NflowsMLP((n_in,), (n_out,), list(HIDDEN))))),
            reference=True))
    if zuko is not None:
        cases.append(Case("zuko GeneralCouplingTransform", lambda: zuko_layer(zuko.flows.GeneralCouplingTransform(
            NET_DIM, mask=torch.arange(NET_DIM) < half, hidden_features=HIDDEN)), reference=True))
    return cases


def spline():
    return RationalQuadraticSpline(BINS, BOUND)


def nsf_density_cases(dim):
    cases = [
        Case("ours NSF density (nsf: one pass)", lambda: one_pass(MAF(dim, HIDDEN, elementwise=spline()), inverse=True)),
        Case("Pyro spline_autoregressive turned around with .inv (one pass)",
             lambda: transform(spline_autoregressive(dim, list(HIDDEN), count_bins=BINS, bound=BOUND)),
             reference=True),
    ]
    if NflowsLU is not None:
        cases.append(Case("nflows MaskedPiecewiseRationalQuadraticAutoregressiveTransform", lambda: returns_pair(
            NflowsNSF(dim, HIDDEN[0], num_bins=BINS, tails="linear", tail_bound=BOUND, num_blocks=len(HIDDEN) - 1,
                      use_residual_blocks=False)), reference=True))
    if zuko is not None:
        cases.append(Case("zuko NSF's MaskedAutoregressiveTransform", lambda: zuko_layer(
            zuko.flows.MaskedAutoregressiveTransform(dim, hidden_features=HIDDEN, **zuko_spline())),
            reference=True))
    return cases


def zuko_spline():
    return {"univariate": zuko.transforms.MonotonicRQSTransform, "shapes": [(BINS,), (BINS,), (BINS - 1,)]}


def spline_coupling_cases(dim):
    half = dim // 2
    cases = [
        Case("ours spline coupling (nsf-coupling)", lambda: one_pass(AffineCoupling(dim, HIDDEN, elementwise=spline()))),
        Case("Pyro spline_coupling", lambda: transform(spline_coupling(dim, hidden_dims=list(HIDDEN), count_bins=BINS,
                                                                       bound=BOUND)), reference=True),
    ]
    if NflowsLU is not None:
        mask = torch.arange(dim) < half
        cases.append(Case("nflows PiecewiseRationalQuadraticCouplingTransform", lambda: returns_pair(
            NflowsSplineCoupling(mask.int(), lambda n_in, n_out: _IgnoreContext(NflowsMLP((n_in,), (n_out,),
                                                                                         list(HIDDEN))),
                                 num_bins=BINS, tails="linear", tail_bound=BOUND)), reference=True))
    if zuko is not None:
        cases.append(Case("zuko GeneralCouplingTransform (spline)", lambda: zuko_layer(zuko.flows.GeneralCouplingTransform(
            dim, mask=torch.arange(dim) < half, hidden_features=HIDDEN, **zuko_spline())), reference=True))
    return cases


def step(call, params, x):
    for p in params:
        p.grad = None
    y, log_det = call(x.clone())  # a fresh tensor: no implementation may answer from a cache
    (y.square().sum() + log_det.sum()).backward()


def _time(built, x, rounds):
    """Median seconds per case; rounds alternate the order so that no case always follows another."""
    finish = torch.cuda.synchronize if x.is_cuda else (lambda: None)
    times = [[] for _ in built]
    for r in range(rounds):
        order = list(enumerate(built))
        for i, (call, params) in order if r % 2 == 0 else order[::-1]:
            finish()
            start = time.perf_counter()
            step(call, params, x)
            finish()
            times[i].append(time.perf_counter() - start)
    return [statistics.median(t) for t in times]


def run_group(cases, dim, rounds, warmup=3):
    """``(case, median ms)`` per case: the one-pass cases round-robin, the sequential ones after."""
    torch.manual_seed(0)
    x = torch.randn(BATCH, dim)
    built = [case.make() for case in cases]
    for call, params in built:
        for _ in range(warmup):
            step(call, params, x)
    fast = [i for i, case in enumerate(cases) if not case.sequential]
    slow = [i for i, case in enumerate(cases) if case.sequential]
    medians = dict(zip(fast, _time([built[i] for i in fast], x, rounds)))
    medians.update(zip(slow, _time([built[i] for i in slow], x, max(3, rounds // 6))))
    return [(case, 1e3 * medians[i]) for i, case in enumerate(cases)]


def table(title, rows, reference_ms, reference_label, note):
    lines = [f"\n### {title}\n", f"| implementation | median ms | x {reference_label} |", "|---|---:|---:|"]
    lines += [f"| {case.name} | {ms:.2f} | {ms / reference_ms:.2f} |" for case, ms in rows]
    print("\n".join(lines + ["", note]))


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=30, help="timed repetitions per case (median)")
    parser.add_argument("--threads", type=int, default=2, help="torch threads")
    parser.add_argument("--device", default="cpu",
                        help="where every layer and batch is made (torch.set_default_device)")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    torch.set_default_device(args.device)
    print(f"torch {torch.__version__}, device {args.device}, {torch.get_num_threads()} threads, "
          f"batch {BATCH}, "
          f"OMP_WAIT_POLICY={os.environ['OMP_WAIT_POLICY']}, nflows {'yes' if NflowsLU else 'absent'}, "
          f"zuko {'yes' if zuko else 'absent'}; forward + log-det + backward, median of {args.rounds} "
          f"interleaved rounds ({max(3, args.rounds // 6)} for the D-pass rows)")

    for dim in (16, 64, 256):
        rows = run_group(linear_cases(dim), dim, args.rounds)
        ms = {case.name: value for case, value in rows}
        dense_ms = ms["dense + slogdet"]
        note = f"QR forward {ms['ours QR (forward: W x)'] / dense_ms:.2f}x dense (target <= 3x)."
        if "nflows LULinear" in ms:
            lu_ratio = ms["ours LU (forward: W x)"] / ms["nflows LULinear"]
            note = f"LU forward {lu_ratio:.2f}x nflows LU (target <= 1x). " + note
        table(f"Linear layers, D = {dim}", rows, dense_ms, "dense", note)

    groups = [
        (f"MAF density, D = {NET_DIM}, hidden {HIDDEN}", NET_DIM, maf_density_cases()),
        (f"IAF sampling, D = {NET_DIM}, hidden {HIDDEN}", NET_DIM, iaf_sampling_cases()),
        (f"Affine coupling, D = {NET_DIM}, hidden {HIDDEN}", NET_DIM, coupling_cases()),
    ]
    for dim in (16, 64):
        groups += [(f"NSF density, D = {dim}, hidden {HIDDEN}, {BINS} bins", dim, nsf_density_cases(dim)),
                   (f"Spline coupling, D = {dim}, hidden {HIDDEN}, {BINS} bins", dim, spline_coupling_cases(dim))]
    for title, dim, cases in groups:
        rows = run_group(cases, dim, args.rounds)
        fastest_ms, fastest = min((ms, case.name) for case, ms in rows if case.reference)
        ours, ours_ms = rows[0]
        table(title, rows, fastest_ms, "fastest reference",
              f"{ours.name}: {ours_ms / fastest_ms:.2f}x the fastest reference ({fastest}).")


if __name__ == "__main__":
    main()
