"""Did the variational fit work?  Diagnostics of a model/guide pair, with arviz.

arviz is used here only, through ``pyro_lvm.diagnostics.arviz_adapter`` (imported lazily).
See ``docs/diagnostics.md``.
"""

from ..exports import module_getattr
from .calibration import calibrate
from .collapse import collapse_diagnostics, gaussian_kl
from .compare import compare_elpd, comparison_rows, pointwise_log_px
from .convergence import elbo_convergence, elbo_rhat
from .encode import encode
from .inference_data import to_inference_data
from .predictive import predictive_checks
from .psis import draws_needed, khat_bins, psis_diagnostics, reweighted_means
from .report import diagnose, verdict_rows

__all__ = ["calibrate", "collapse_diagnostics", "compare_elpd", "comparison_rows", "diagnose",
           "draws_needed", "elbo_convergence", "elbo_rhat", "encode", "gaussian_kl",
           "khat_bins", "pointwise_log_px", "predictive_checks", "psis_diagnostics",
           "reweighted_means", "to_inference_data", "verdict_rows"]

__getattr__ = module_getattr(globals())  # compare_runs, renamed elbo_rhat in 0.2.4
