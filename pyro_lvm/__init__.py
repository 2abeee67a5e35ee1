"""pyro_lvm: latent variable models, VAEs and normalizing flows as Pyro model/guide pairs.

A model is ``model(x, indices=None, num_data=None)`` (prior and likelihood, local latents in
``data_plate``); a guide takes the same arguments and samples the same latent sites.  The
``Trainer`` maximizes the ELBO; the evaluators estimate log p(x) for any such pair.

The public names are imported from their submodules on first use (the imports below, which
type checkers read as they are), so that ``import pyro_lvm`` and the command's ``--help`` do not
wait for torch.
"""

from typing import TYPE_CHECKING

from .command_env import set_command_defaults

set_command_defaults()  # before torch loads: the command's OpenMP wait policy

from .exports import module_getattr, type_checking_imports  # noqa: E402

__version__ = "0.2.4"

if TYPE_CHECKING:
    from .checkpoint import load_checkpoint, save_checkpoint
    from .conv import ConvArch
    from .data import (DataSplit, decode_table, encode_table, infer_schema, load_dataset,
                       load_digits, load_mnist, load_mnist5k, load_table, read_table,
                       validate_data)
    from .diagnostics import (collapse_diagnostics, diagnose, encode, psis_diagnostics,
                              to_inference_data)
    from .flows import IAF, MAF, AffineCoupling, FlowDensity, LULinear, QRLinear, build_flow
    from .guides import FlowGuide, FullRankNormalGuide, LocalNormalGuide, MeanFieldNormalGuide
    from .infer import (DeviceTraceELBO, DeviceTraceMeanFieldELBO, ImportanceWeightedELBO,
                        TrainConfig, Trainer, TrainingDiverged, elbo_per_datapoint,
                        evaluate_per_datapoint, gradient_variance, importance_log_likelihood,
                        impute, impute_draws, inference_gaps, naive_log_likelihood)
    from .likelihoods import (LIKELIHOODS, BernoulliLikelihood, BetaLikelihood,
                              CategoricalLikelihood, Column, ContinuousBernoulli,
                              ContinuousBernoulliLikelihood, GaussianLikelihood, Likelihood,
                              NegativeBinomialLikelihood, PoissonLikelihood, StudentTLikelihood,
                              TableLikelihood, ZeroInflatedNegativeBinomialLikelihood)
    from .models import PPCA, VAE, GaussianMixture, ImageFlow, ppca_mle
    from .plates import data_plate
    from .runtime import resolve_device, set_seed

_EXPORTS = type_checking_imports(__file__)
__all__ = sorted(name for names in _EXPORTS.values() for name in names)
__getattr__ = module_getattr(globals(), _EXPORTS)  # and the names renamed in 0.2.0


def __dir__():
    return sorted({*globals(), *__all__})
