"""vae_helpers: the models, losses, estimators, data, training loop and plots of the
Variational Autoencoders in PyTorch notebook series.

Public names (each documented with shapes and units):
``load_dataset``, ``Autoencoder``, ``GaussianVAE``, ``CategoricalVAE``, ``fit``, ``elbo``,
``iwae_bound``, ``gaussian_kl``, ``gumbel_softmax``, ``pick_device``.
"""

from . import checks, classifier, code_prior, diagnostics, iwae, plots, vq, widgets
from .code_prior import CodePrior
from .conditional import ConditionalVAE
from .iwae import IWAE
from .data import (DatasetError, DeviceBatches, binarize, evaluation_pixels, load_dataset, read_idx,
                   scoring_note, static_binarization, to_unit_interval)
from .device import describe_device, pick_device
from .gumbel import exponential_temperature, gumbel_max_sample, gumbel_softmax, sample_gumbel
from .losses import (ELBOParts, bernoulli_log_likelihood, categorical_kl_to_uniform, elbo, gaussian_kl,
                     gaussian_log_likelihood, iwae_bound, monte_carlo_kl)
from .models import Autoencoder, CategoricalVAE, GaussianVAE, register_model
from .notebook import setup_notebook
from .settings import by_mode, is_smoke
from .training import History, TrainingDiverged, evaluate, fit, load_checkpoint, load_weights, save_checkpoint
from .vq import VQVAE, codebook_perplexity, vector_quantize

__version__ = "0.1.0"

__all__ = [
    "load_dataset", "Autoencoder", "GaussianVAE", "CategoricalVAE", "ConditionalVAE", "IWAE", "fit", "elbo", "iwae_bound",
    "gaussian_kl", "gumbel_softmax", "pick_device",
    "DatasetError", "DeviceBatches", "binarize", "evaluation_pixels", "scoring_note", "static_binarization", "read_idx", "to_unit_interval", "describe_device",
    "exponential_temperature", "gumbel_max_sample", "sample_gumbel", "ELBOParts", "bernoulli_log_likelihood",
    "categorical_kl_to_uniform", "gaussian_log_likelihood", "monte_carlo_kl", "by_mode", "is_smoke",
    "VQVAE", "vector_quantize", "codebook_perplexity", "CodePrior",
    "setup_notebook", "register_model", "History", "TrainingDiverged", "evaluate", "load_checkpoint", "load_weights", "save_checkpoint",
]
