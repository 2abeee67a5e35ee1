"""A transformed distribution that takes one pass per layer: a draw with its log-density.

``rsample`` pushes base draws through each layer with ``call_and_ladj`` and keeps
``log q(z) = log N(z₀) - Σ_k log|det ∂g_k/∂z_{k-1}|`` beside the draw, so the ``log_prob`` of
that same tensor (what Trace_ELBO asks for next) costs nothing; any other value is scored by
one ``inv_and_ladj`` pass per layer, from the data side back to the base. Layers without these
methods (other libraries' transforms) are called, then asked their log-det, as torch does.
"""

import pyro.distributions as dist
import torch


def call_and_ladj(transform, x):
    """``(y, log|det ∂y/∂x|)``: one pass where the layer offers it."""
    if hasattr(transform, "call_and_ladj"):
        return transform.call_and_ladj(x)
    y = transform(x)
    return y, transform.log_abs_det_jacobian(x, y)


def inv_and_ladj(transform, y):
    """``(x, log|det ∂x/∂y|)`` with ``y = transform(x)``: one pass where the layer offers it."""
    if hasattr(transform, "inv_and_ladj"):
        return transform.inv_and_ladj(y)
    x = transform.inv(y)
    return x, -transform.log_abs_det_jacobian(x, y)


class FlowDistribution(dist.TransformedDistribution):
    """``TransformedDistribution(base, transforms)`` on vectors, scored in one pass per layer.

    Every transform must act on vectors (``event_dim`` 1, as ``foreign.ready`` makes them).
    """

    _last = None  # (draw, its log-density) from the latest rsample

    def rsample(self, sample_shape=()):
        z = self.base_dist.rsample(sample_shape)
        log_prob = self.base_dist.log_prob(z)
        for transform in self.transforms:
            z, log_det = call_and_ladj(transform, z)
            log_prob = log_prob - log_det
        self._last = (z, log_prob)
        return z

    def sample(self, sample_shape=()):
        with torch.no_grad():
            return self.rsample(sample_shape)

    def log_prob(self, value):
        last = self._last
        if last is not None and last[0] is value:
            return last[1]
        log_det = 0.0
        for transform in reversed(self.transforms):
            value, step = inv_and_ladj(transform, value)
            log_det = log_det + step
        return self.base_dist.log_prob(value) + log_det
