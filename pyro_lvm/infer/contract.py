"""Check, before any training, that a guide samples exactly the model's latent sites, and
warn when one of its sites cannot be reparametrized."""

import warnings

import pyro
import torch
from pyro import poutine
from pyro.poutine.util import site_is_subsample

from ..errors import bad_value


class ScoreFunctionWarning(UserWarning):
    """A guide site has no ``rsample``: its ELBO gradient is the score-function estimator."""


def _base_name(fn):
    while isinstance(fn, torch.distributions.Independent):
        fn = fn.base_dist
    return type(fn).__name__


def warn_if_not_reparametrized(guide_trace, stacklevel=2):
    """One ``ScoreFunctionWarning`` naming the guide's sampled sites without ``rsample``.

    With z = g_φ(ε) the ELBO gradient is E_ε[∇_φ f(g_φ(ε))] (reparametrized); without, Pyro
    uses the score-function estimator E_q[f(z) ∇_φ log q_φ(z)], whose variance is far larger
    (``pyro_lvm.infer.gradients`` measures both).  Enumerated sites are summed out, not
    sampled, and are not named.
    """
    names = [f"{name!r} ({_base_name(site['fn'])})" for name, site in guide_trace.nodes.items()
             if site["type"] == "sample" and not site["is_observed"]
             and not site_is_subsample(site) and site["infer"].get("enumerate") is None
             and not site["fn"].has_rsample]
    if names:
        warnings.warn(
            f"guide site{'s' if len(names) > 1 else ''} {', '.join(names)} cannot be "
            "reparametrized (no rsample): the ELBO gradient there is the score-function "
            "estimator, much noisier than the reparametrized one. Use a reparametrizable "
            "distribution at that site (Normal, a flow of a Normal, ...); else lower the "
            "variance with more particles (num_particles) or, in a plain Pyro SVI loop, "
            "TraceGraph_ELBO; a discrete latent can be enumerated in the model instead "
            "(elbo='enum').", ScoreFunctionWarning, stacklevel=stacklevel + 1)


def _latent_sites(trace):
    """Sample sites of ``trace`` that are neither observed, subsample indices, enumerated nor
    auxiliary (an autoguide's joint latent vector, which the model does not have)."""
    return {name: site for name, site in trace.nodes.items()
            if site["type"] == "sample" and not site["is_observed"]
            and not site_is_subsample(site)
            and site["infer"].get("enumerate") is None
            and not site["infer"].get("is_auxiliary")}


def check_pair(model, guide, x, indices=None, num_data=None):
    """Raise a ``ValueError`` naming the sites unless ``guide`` and ``model`` agree on ``x``.

    The model must observe the data (at least one sample site with ``obs=``); the guide must
    sample every latent site of the model that is not enumerated, nothing else, each with the
    model's shape.  Runs one trace of each (the model's latents drawn from its prior), without
    gradients.  A guide site without ``rsample`` gets one ``ScoreFunctionWarning``
    (``warn_if_not_reparametrized``): the trainer calls this once per training.
    """
    with torch.no_grad(), pyro.validation_enabled(False):
        model_trace = poutine.trace(model).get_trace(x, indices, num_data)
        guide_trace = poutine.trace(guide).get_trace(x, indices, num_data)
    if not any(site["type"] == "sample" and site["is_observed"]
               for site in model_trace.nodes.values()):
        seen = sorted(n for n, s in model_trace.nodes.items()
                      if s["type"] == "sample" and not site_is_subsample(s))
        raise bad_value("model", f"sample sites {seen}", "a model that observes the data: a "
                        "pyro.sample(..., obs=x) site that Pyro can see (none was traced, so "
                        "the ELBO would not depend on the data)")
    in_guide, in_model = _latent_sites(guide_trace), _latent_sites(model_trace)
    missing, extra = sorted(set(in_model) - set(in_guide)), sorted(set(in_guide) - set(in_model))
    if missing or extra:
        raise bad_value("guide", f"sites {sorted(in_guide)}",
                        f"the model's latent sites {sorted(in_model)} "
                        f"(missing: {missing}, not in the model: {extra})")
    for name, site in in_guide.items():
        expected = in_model[name]["fn"].shape()
        seen = site["value"].shape
        if seen != expected:
            raise bad_value("guide", f"site {name!r} of shape {tuple(seen)}",
                            f"the model's shape {tuple(expected)} (batch and event dimensions)")
    warn_if_not_reparametrized(guide_trace, stacklevel=2)
