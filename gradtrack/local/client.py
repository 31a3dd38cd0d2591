"""A training client that runs in this process: the stand-in for a remote fine-tuning service.

This module lets you run the code you would send to a fine-tuning service
against a small model on your own machine. :class:`LocalTrainingClient`
follows :class:`gradtrack.custom_loss.TrainingClient`:

* ``forward(data, "cross_entropy")`` returns, for each datum, the logprobs
  of its ``target_tokens`` (``loss_fn_outputs[i]["logprobs"]``);
* ``forward_backward(data, "cross_entropy")`` computes the weighted
  cross-entropy ``−Σ_i Σ_t w_{i,t} log p(target_{i,t})`` (weights default to
  1), accumulates its gradient into the model's parameters and reports it
  as ``metrics["loss"]``;
* ``optim_step(AdamParams(...))`` applies one Adam update and clears the
  gradients.

So ``forward_backward_custom(client, data, loss_fn)`` trains this model
exactly as it would a remote one.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

import minigrad as mg
from gradtrack.local.gpt import TinyGPT
from gradtrack.local.model import CharLM
from gradtrack.types import Datum, ForwardBackwardOutput, TensorData
from minigrad.optim import Adam

__all__ = ["SUPPORTED_LOSS_FNS", "AdamParams", "LocalTrainingClient"]

SUPPORTED_LOSS_FNS = ("cross_entropy",)
"""The server losses the local client computes: the weighted cross-entropy only."""


@dataclass(frozen=True)
class AdamParams:
    """The settings of one optimizer step.

    Examples
    --------
    >>> AdamParams(learning_rate=0.01)
    AdamParams(learning_rate=0.01, beta1=0.9, beta2=0.999, eps=1e-08)
    >>> AdamParams(learning_rate=-1.0)
    Traceback (most recent call last):
    ...
    ValueError: AdamParams learning_rate must be a positive finite number, got -1.0
    """

    learning_rate: float = 1e-3
    beta1: float = 0.9
    beta2: float = 0.999
    eps: float = 1e-8

    def __post_init__(self) -> None:
        if not (_is_real(self.learning_rate) and 0 < self.learning_rate < math.inf):
            raise ValueError(
                "AdamParams learning_rate must be a positive finite number, "
                f"got {self.learning_rate!r}"
            )
        for name in ("beta1", "beta2"):
            value = getattr(self, name)
            if not (_is_real(value) and 0 <= value < 1):
                raise ValueError(f"AdamParams {name} must be in [0, 1), got {value!r}")
        if not (_is_real(self.eps) and 0 < self.eps < math.inf):
            raise ValueError(f"AdamParams eps must be a positive finite number, got {self.eps!r}")


def _is_real(value: Any) -> bool:
    return isinstance(value, int | float | np.floating | np.integer) and not isinstance(value, bool)


@dataclass
class _Batch:
    """Every datum's positions stacked into one batch, so the model runs once per call."""

    inputs: Any  # what the model's batch_inputs made of the data's tokens
    targets: np.ndarray  # (n,)
    weights: np.ndarray  # (n,), in the model's dtype
    lengths: list[int]  # positions per datum, to split the results again


class LocalTrainingClient:
    """Train a :class:`~gradtrack.local.model.CharLM` or a
    :class:`~gradtrack.local.gpt.TinyGPT` through the training-client protocol.

    Parameters
    ----------
    model : CharLM or TinyGPT
        The model to train; its parameters change in place at each :meth:`optim_step`.

    Examples
    --------
    >>> from gradtrack.types import ModelInput
    >>> client = LocalTrainingClient(CharLM(vocab_size=4, context=2, hidden=8, rng=0))
    >>> datum = Datum(ModelInput.from_ints([0, 1, 2]), {"target_tokens": [1, 2, 3]})
    >>> out = client.forward([datum], "cross_entropy")
    >>> out.loss_fn_outputs[0]["logprobs"].shape
    [3]
    >>> out = client.forward_backward([datum], "cross_entropy")
    >>> out.metrics["loss"] > 0
    True
    >>> client.optim_step(AdamParams(learning_rate=0.01))
    {'step': 1, 'learning_rate': 0.01}
    """

    def __init__(self, model: CharLM | TinyGPT) -> None:
        if not isinstance(model, CharLM | TinyGPT):
            raise TypeError(f"model must be a CharLM or a TinyGPT, got {type(model).__name__}")
        self.model = model
        self._optimizer = Adam(model.parameters())
        self._steps = 0

    # ------------------------------------------------------------ requests

    def forward(
        self, data: Sequence[Datum], loss_fn: str = "cross_entropy"
    ) -> ForwardBackwardOutput:
        """Per-datum target-token logprobs and the weighted cross-entropy, without gradients.

        Parameters
        ----------
        data : list of Datum
            Each needs ``target_tokens`` of the same length as its input
            tokens; optional ``weights`` of that length (default 1).
        loss_fn : str
            Only ``"cross_entropy"``.

        Returns
        -------
        ForwardBackwardOutput
            ``loss_fn_outputs[i] = {"logprobs": TensorData}`` (the model's
            dtype, the shape of ``target_tokens``); ``metrics`` holds
            ``"loss"`` and ``"tokens"``.

        Raises
        ------
        ValueError
            An unknown ``loss_fn``, or a datum the model cannot read (its index is named).

        Examples
        --------
        >>> from gradtrack.types import ModelInput
        >>> client = LocalTrainingClient(CharLM(vocab_size=3, context=2, hidden=4, rng=0))
        >>> datum = Datum(ModelInput.from_ints([0, 1]), {"target_tokens": [1, 2]})
        >>> lp = client.forward([datum]).loss_fn_outputs[0]["logprobs"].to_numpy()
        >>> lp.shape, bool((lp < 0).all())
        ((2,), True)
        """
        _check_loss_fn(loss_fn)
        batch = self._batch(data)
        with mg.no_grad():
            logprobs = self.model.batch_target_logprobs(batch.inputs, batch.targets)
        return self._output(loss_fn, batch, logprobs.data)

    def forward_backward(
        self, data: Sequence[Datum], loss_fn: str = "cross_entropy"
    ) -> ForwardBackwardOutput:
        """:meth:`forward`, and accumulate the gradient of the loss into the parameters.

        The loss is the unnormalised weighted sum ``−Σ w · logprob``: the
        weights carry any normalisation, as the linearised custom loss
        requires (see :mod:`gradtrack.custom_loss`). Gradients add up over
        calls until :meth:`optim_step`.

        Examples
        --------
        >>> from gradtrack.types import ModelInput
        >>> client = LocalTrainingClient(CharLM(vocab_size=3, context=2, hidden=4, rng=0))
        >>> datum = Datum(ModelInput.from_ints([0]), {"target_tokens": [2], "weights": [0.0]})
        >>> client.forward_backward([datum]).metrics["loss"]
        0.0
        >>> float(abs(client.model.mlp.layers[0].weight.grad.data).max())
        0.0
        """
        _check_loss_fn(loss_fn)
        batch = self._batch(data)
        with mg.enable_grad():
            logprobs = self.model.batch_target_logprobs(batch.inputs, batch.targets)
            loss = -(logprobs * batch.weights).sum()
            loss.backward()
        return self._output(loss_fn, batch, logprobs.data)

    def optim_step(self, params: AdamParams | None = None) -> dict[str, Any]:
        """Apply one Adam update from the accumulated gradients, then clear them.

        Parameters
        ----------
        params : AdamParams, optional
            This step's learning rate and moments (default ``AdamParams()``).
            The moment estimates carry over between steps.

        Returns
        -------
        dict
            ``{"step": steps taken so far, "learning_rate": the rate used}``.

        Examples
        --------
        >>> client = LocalTrainingClient(CharLM(vocab_size=3, context=1, hidden=2, rng=0))
        >>> client.optim_step()
        {'step': 1, 'learning_rate': 0.001}
        """
        params = AdamParams() if params is None else params
        if not isinstance(params, AdamParams):
            raise TypeError(f"params must be AdamParams, got {type(params).__name__}")
        optimizer = self._optimizer
        optimizer.lr = float(params.learning_rate)
        optimizer.betas = (float(params.beta1), float(params.beta2))
        optimizer.eps = float(params.eps)
        optimizer.step()
        optimizer.zero_grad()
        self._steps += 1
        return {"step": self._steps, "learning_rate": optimizer.lr}

    # ------------------------------------------------------------- helpers

    def _output(self, loss_fn: str, batch: _Batch, logprobs: np.ndarray) -> ForwardBackwardOutput:
        # Summed in float64: in float32, a sum over thousands of tokens loses digits.
        loss = -float(np.dot(batch.weights.astype(np.float64), logprobs.astype(np.float64)))
        pieces = np.split(logprobs, np.cumsum(batch.lengths)[:-1]) if batch.lengths else []
        outputs = [{"logprobs": TensorData.from_numpy(piece)} for piece in pieces]
        return ForwardBackwardOutput(loss_fn, outputs, {"loss": loss, "tokens": len(logprobs)})

    def _batch(self, data: Sequence[Datum]) -> _Batch:
        if isinstance(data, Datum) or not isinstance(data, Sequence):
            raise TypeError(f"data must be a list of Datum, got {type(data).__name__}")
        sequences, targets, weights, lengths = [], [], [], []
        for index, datum in enumerate(data):
            tokens, target, weight = self._read_datum(datum, index)
            sequences.append(tokens)
            targets.append(target)
            weights.append(weight)
            lengths.append(len(tokens))
        dtype = self.model.dtype
        inputs = self.model.batch_inputs(sequences)
        if not sequences:
            return _Batch(inputs, np.zeros(0, np.int64), np.zeros(0, dtype), [])
        return _Batch(
            inputs,
            np.concatenate(targets),
            np.concatenate(weights).astype(dtype, copy=False),
            lengths,
        )

    def _read_datum(self, datum: Any, index: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        if not isinstance(datum, Datum):
            raise TypeError(f"data[{index}] must be a Datum, got {type(datum).__name__}")
        tokens = np.asarray(datum.model_input.to_ints(), dtype=np.int64)
        if tokens.size == 0:
            raise ValueError(f"data[{index}] has no tokens: every datum needs at least one")
        inputs = datum.loss_fn_inputs
        if "target_tokens" not in inputs:
            raise ValueError(f"data[{index}]: target_tokens missing from loss_fn_inputs")
        targets = inputs["target_tokens"].to_numpy()
        if targets.shape != tokens.shape:
            raise ValueError(
                f"data[{index}]: target_tokens shape {targets.shape} does not match "
                f"the {tokens.shape[0]} input tokens"
            )
        if "weights" in inputs:
            weights = inputs["weights"].to_numpy()
            if weights.shape != tokens.shape:
                raise ValueError(
                    f"data[{index}]: weights shape {weights.shape} does not match "
                    f"the {tokens.shape[0]} input tokens"
                )
        else:
            weights = np.ones(tokens.shape, dtype=self.model.dtype)
        for what, ids in (("input", tokens), ("target", targets)):
            outside = (ids < 0) | (ids >= self.model.vocab_size)
            if outside.any():
                first = int(np.argmax(outside))
                raise ValueError(
                    f"data[{index}]: {what} token {int(ids[first])} at position {first} is "
                    f"outside the vocabulary of {self.model.vocab_size}"
                )
        return tokens, targets.astype(np.int64, copy=False), weights


def _check_loss_fn(loss_fn: Any) -> None:
    if loss_fn not in SUPPORTED_LOSS_FNS:
        raise ValueError(
            f"unsupported loss_fn {loss_fn!r}: the local client computes {list(SUPPORTED_LOSS_FNS)}"
        )
