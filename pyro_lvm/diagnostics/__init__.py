"""Did the variational fit work?  Diagnostics of a model/guide pair, with arviz.

arviz is used here only, through ``pyro_lvm.diagnostics.arviz_adapter`` (imported lazily).
See ``docs/diagnostics.md``.
"""

from .collapse import collapse_diagnostics, gaussian_kl
from .convergence import compare_runs, elbo_convergence
from .encode import encode
from .inference_data import to_inference_data
from .psis import draws_needed, khat_bins, psis_diagnostics, reweighted_means
from .report import diagnose, verdict_rows

__all__ = ["collapse_diagnostics", "compare_runs", "diagnose", "draws_needed",
           "elbo_convergence", "encode", "gaussian_kl", "khat_bins",
           "psis_diagnostics", "reweighted_means", "to_inference_data", "verdict_rows"]
