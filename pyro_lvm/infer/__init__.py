"""Training (SVI) and evaluation (ELBO, importance-sampled and naive log p(x))."""

from ..exports import module_getattr
from .evaluation import (bits_per_dim, elbo_per_datapoint, evaluate_per_datapoint,
                         importance_log_likelihood, naive_log_likelihood, summarize)
from .gaps import fit_local_guide, inference_gaps
from .imputation import impute, impute_draws
from .gradients import GradientStats, NoRsample, gradient_variance, score_function_guide
from .bounds import ImportanceWeightedELBO
from .contract import ScoreFunctionWarning
from .objectives import ELBOS, OBJECTIVES, DeviceTraceELBO, DeviceTraceMeanFieldELBO, make_elbo
from .trainer import TrainConfig, Trainer, TrainingDiverged
from .traces import log_weights

__all__ = ["ELBOS", "OBJECTIVES", "GradientStats", "ImportanceWeightedELBO", "NoRsample", "DeviceTraceELBO", "DeviceTraceMeanFieldELBO",
           "ScoreFunctionWarning",
           "TrainConfig", "Trainer", "TrainingDiverged", "bits_per_dim", "elbo_per_datapoint",
           "evaluate_per_datapoint", "fit_local_guide", "gradient_variance",
           "importance_log_likelihood", "impute", "impute_draws", "inference_gaps", "log_weights", "make_elbo",
           "naive_log_likelihood", "score_function_guide", "summarize"]

__getattr__ = module_getattr(globals())  # the names renamed in 0.2.0
