"""gradtrack: gradient tracking for regularized fine-tuning, built on minigrad.

Given per-token logprobs, a base loss and a set of weighted regularizers,
gradtrack computes the total loss, every term's contribution, and — with
tracking on — the L2 norm of every term's gradient with respect to the
logprobs and of the total gradient, so you can see which term drives an
update.

Examples
--------
>>> import gradtrack
>>> issubclass(gradtrack.RegularizerTimeoutError, gradtrack.GradtrackError)
True
"""

from __future__ import annotations

from gradtrack import (
    custom_loss,
    executor,
    loggers,
    penalties,
    pipeline,
    regularizers,
    telemetry,
    tracker,
)
from gradtrack.check import CheckReport, check_regularizer
from gradtrack.errors import (
    GradtrackError,
    NonFiniteError,
    PipelineError,
    RegularizerError,
    RegularizerTimeoutError,
)
from gradtrack.types import (
    CustomLossOutput,
    Datum,
    ForwardBackwardOutput,
    ModelInput,
    RegularizerOutput,
    RegularizerSpec,
    TensorData,
)

compute = pipeline.compute
forward_backward_custom = custom_loss.forward_backward_custom
forward_backward_custom_async = custom_loss.forward_backward_custom_async

__version__ = "0.1.0"

__all__ = [
    "CheckReport",
    "CustomLossOutput",
    "Datum",
    "ForwardBackwardOutput",
    "GradtrackError",
    "ModelInput",
    "NonFiniteError",
    "PipelineError",
    "RegularizerError",
    "RegularizerOutput",
    "RegularizerSpec",
    "RegularizerTimeoutError",
    "TensorData",
    "check_regularizer",
    "compute",
    "custom_loss",
    "executor",
    "forward_backward_custom",
    "forward_backward_custom_async",
    "loggers",
    "penalties",
    "pipeline",
    "regularizers",
    "telemetry",
    "tracker",
]
