"""gradtrack in a PyTorch training loop: one machine or data-parallel (extra ``torch``).

This module lets a PyTorch user keep writing every loss term with minigrad on
the logprobs while the model lives in PyTorch:

* :func:`backward` runs the regularizer pipeline on the values of the
  logprobs your model produced and accumulates into the parameters' ``.grad``
  exactly the gradient of ``loss_total``, in one ``torch.autograd.backward``
  call (so ``optimizer.step()`` follows). With ``process_group`` it reports
  the numbers of the whole data-parallel batch, identical on every rank.
* :class:`TorchTrainingClient` is the
  :class:`~gradtrack.custom_loss.TrainingClient` protocol over a causal LM,
  so :func:`~gradtrack.custom_loss.forward_backward_custom` trains a real
  model (a Hugging Face one, say).

Why :func:`backward` is exact: the pipeline returns ``g = ∂loss_total/∂ℓ``
at the model's logprobs ``ℓ``; ``torch.autograd.backward(ℓ, g)`` computes
``Σ g · ∂ℓ/∂θ = ∂loss_total/∂θ`` by the chain rule. Its cost over a plain
``loss.backward()`` is the minigrad evaluation and one backward of each term
on the logprobs (tiny next to the model), plus one host copy of the logprobs.
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import replace
from typing import Any

import numpy as np
import torch
import torch.distributed as dist

from gradtrack import pipeline
from gradtrack.conflicts import check_conflict_mode, pcgrad_coefficients, weighted_gram
from gradtrack.custom_loss.client import LINEAR_LOSS_FN
from gradtrack.custom_loss.route import _join, _split
from gradtrack.types import (
    CustomLossOutput,
    Datum,
    ForwardBackwardOutput,
    RegularizerOutput,
    RegularizerSpec,
    TensorData,
)
from gradtrack.vectors import cosine_from_dot, weighted_sum
from minigrad import kernels

__all__ = ["TorchTrainingClient", "backward"]

# numpy has no bfloat16 (and minigrad no float16): both are evaluated in float32.
_HOST_DTYPES = {torch.float64: np.float64, torch.float32: np.float32}


# ------------------------------------------------------------------ backward


def backward(
    logprobs: torch.Tensor | Sequence[torch.Tensor],
    data: Any,
    base_loss_fn: Any,
    *,
    regularizers: Iterable[RegularizerSpec] = (),
    track_grad_norms: bool = False,
    parallel: bool = True,
    timeout: float = 30.0,
    max_concurrency: int | None = None,
    process_group: Any = None,
    param_norms: torch.nn.Module | Iterable[torch.nn.Parameter] | None = None,
    conflict: str = "none",
) -> CustomLossOutput:
    """Run the pipeline on the model's logprobs and accumulate ``∂loss_total/∂θ`` into ``.grad``.

    Parameters
    ----------
    logprobs : torch.Tensor or list of torch.Tensor
        What the model produced, still attached to its graph (``requires_grad``):
        one tensor of any shape, or one tensor per datum (lengths may differ;
        they are joined along their first axis, as in
        :func:`~gradtrack.custom_loss.forward_backward_custom`, and every term
        sees the joined tensor). float32 and float64 are evaluated as they
        are; bfloat16 and float16 in float32. The gradient sent back has each
        tensor's own dtype and device.
    data, base_loss_fn, regularizers, track_grad_norms, parallel, timeout, max_concurrency
        As for :func:`gradtrack.pipeline.compute`; the terms are minigrad
        functions of the logprobs.
    process_group : torch.distributed group or ``"default"``, optional
        Data parallelism: each rank passes its shard. The reported values
        (and numeric metrics) are the means over ranks, and the norms and
        alignments those of the gradient of that mean loss with respect to
        every rank's logprobs (sums of squares and dot products are
        all-reduced in float64): identical on every rank. The parameter
        gradient accumulated is the rank's own, which DDP then averages
        over ranks. Every rank must call with the same regularizers (checked).
        Collectives wait at most the group's timeout (``init_process_group``'s).
    param_norms : torch.nn.Module or iterable of Parameter, optional
        With ``track_grad_norms``, also report each term's gradient norm with
        respect to these parameters (``RegularizerOutput.param_grad_norm``,
        ``base_loss["param_grad_norm"]``, ``total_param_grad_norm``): one
        extra backward through the model per term.
    conflict : {"none", "pcgrad"}
        ``"pcgrad"``: the gradient sent into the model is the PCGrad-projected
        total of the weighted term gradients (see
        :func:`gradtrack.pipeline.compute`), and the output reports its norm
        as ``total_grad_norm_projected``. With ``process_group`` the
        projection is that of the gradient of the whole batch: the terms'
        dot products are all-reduced (one Gram matrix, ``K²`` numbers for
        ``K`` terms) and every rank combines its own shard with the same
        coefficients, so DDP's average is exactly the projected gradient of
        the mean loss. ``total_grad_norm``, ``grad_alignment`` and the
        parameter norms stay those of the gradient of ``loss_total``.

    Returns
    -------
    CustomLossOutput

    Raises
    ------
    TypeError, ValueError
        Before any work: ``logprobs`` not a float tensor (or list of them)
        requiring grad, the pipeline's own argument checks, an unknown or
        uninitialised ``process_group``, ``param_norms`` without
        ``track_grad_norms``, an unknown ``conflict``; ranks with different
        regularizer names or ``conflict``.
    PipelineError, RegularizerError
        A term failed, or its gradient could not be computed.

    Examples
    --------
    >>> import torch
    >>> layer = torch.nn.Linear(3, 4, dtype=torch.float64)
    >>> logprobs = torch.log_softmax(layer(torch.ones(2, 3, dtype=torch.float64)), -1)
    >>> direct = torch.autograd.grad(-logprobs.mean(), layer.weight, retain_graph=True)[0]
    >>> out = backward(logprobs, [], lambda data, lp: (-lp.mean(), {}))
    >>> torch.allclose(layer.weight.grad, direct), out.loss_total > 0
    (True, True)
    """
    tensors = _logprob_tensors(logprobs)
    conflict = check_conflict_mode(conflict)
    group = _process_group(process_group)
    params = _parameters(param_norms, track_grad_norms)
    shapes = [tuple(t.shape) for t in tensors]
    values = _host(tensors[0]) if len(tensors) == 1 else _join([_host(t) for t in tensors])
    run = pipeline.evaluate(
        data,
        values,
        base_loss_fn,
        regularizers=regularizers,
        track_grad_norms=track_grad_norms,
        parallel=parallel,
        timeout=timeout,
        max_concurrency=max_concurrency,
        # Data parallel: the projection needs every rank's dot products (below).
        conflict=conflict if group is None else "none",
    )
    output = run.output
    total = run.total_gradient
    if group is not None:
        output = _global_output(run, group, bool(track_grad_norms), conflict)
        if conflict == "pcgrad":
            total, projected_norm = _global_projection(run, group)
            output = replace(output, total_grad_norm_projected=projected_norm)
    if params is not None:
        output = _with_param_norms(output, run, tensors, shapes, params, group)
    pieces = [total] if len(tensors) == 1 else _split(total, shapes)
    grads = [
        torch.from_numpy(np.ascontiguousarray(piece)).to(dtype=t.dtype, device=t.device)
        for piece, t in zip(pieces, tensors, strict=True)
    ]
    torch.autograd.backward(tensors, grad_tensors=grads)
    return output


def _logprob_tensors(logprobs: Any) -> list[torch.Tensor]:
    if isinstance(logprobs, torch.Tensor):
        tensors, names = [logprobs], ["logprobs"]
    elif isinstance(logprobs, Sequence) and not isinstance(logprobs, str):
        tensors = list(logprobs)
        names = [f"logprobs[{i}]" for i in range(len(tensors))]
        if not tensors:
            raise ValueError("logprobs is an empty list: there is nothing to differentiate")
    else:
        raise TypeError(
            f"logprobs must be a torch.Tensor or a list of them, got {type(logprobs).__name__}"
        )
    for name, tensor in zip(names, tensors, strict=True):
        if not isinstance(tensor, torch.Tensor):
            raise TypeError(f"{name} must be a torch.Tensor, got {type(tensor).__name__}")
        if not tensor.is_floating_point():
            raise TypeError(f"{name} must be a floating tensor, got dtype {tensor.dtype}")
        if not tensor.requires_grad:
            raise ValueError(
                f"{name} does not require grad: pass the model's output itself, not a "
                "detached copy or one made under torch.no_grad()"
            )
    if len(tensors) > 1 and len({t.shape[1:] for t in tensors}) > 1:
        raise ValueError(
            "per-datum logprobs must agree in all but their first axis, got shapes "
            f"{[tuple(t.shape) for t in tensors]}"
        )
    return tensors


def _host(tensor: torch.Tensor) -> np.ndarray:
    """The values as a NumPy array: float64 and float32 kept, lower precisions as float32."""
    target = torch.float64 if tensor.dtype == torch.float64 else torch.float32
    array = tensor.detach().to(device="cpu", dtype=target).numpy()
    return np.asarray(array, dtype=_HOST_DTYPES[target])


def _process_group(process_group: Any) -> Any:
    if process_group is None:
        return None
    if not (dist.is_available() and dist.is_initialized()):
        raise ValueError(
            "process_group was given but torch.distributed is not initialised; call "
            "torch.distributed.init_process_group first"
        )
    if isinstance(process_group, str):
        if process_group != "default":
            raise ValueError(f"process_group must be a group or 'default', got {process_group!r}")
        return dist.group.WORLD
    return process_group


def _parameters(param_norms: Any, track: bool) -> list[torch.Tensor] | None:
    if param_norms is None:
        return None
    if not track:
        raise ValueError("param_norms reports gradient norms: it needs track_grad_norms=True")
    if isinstance(param_norms, torch.nn.Module):
        params = list(param_norms.parameters())
    elif isinstance(param_norms, torch.Tensor):
        params = [param_norms]
    elif isinstance(param_norms, Iterable):
        params = list(param_norms)
    else:
        raise TypeError(
            "param_norms must be a torch.nn.Module or an iterable of parameters, "
            f"got {type(param_norms).__name__}"
        )
    params = [p for p in params if isinstance(p, torch.Tensor) and p.requires_grad]
    if not params:
        raise ValueError("param_norms holds no parameter that requires grad")
    return params


# ----------------------------------------------------------- data parallel


def _term_gradients(run: pipeline.Evaluation) -> tuple[list[str], list[float], list[np.ndarray]]:
    output = run.output
    names = ["base", *output.regularizers]
    weights = [1.0] + [reg.weight for reg in output.regularizers.values()]
    grads = [run.base_gradient, *(run.gradients[name] for name in output.regularizers)]
    return names, weights, grads


def _device(group: Any) -> torch.device:
    if dist.get_backend(group) == "nccl":
        return torch.device("cuda", torch.cuda.current_device())
    return torch.device("cpu")


def _all_reduce(values: Sequence[float] | np.ndarray, group: Any) -> np.ndarray:
    """The element-wise sum over ranks, in float64."""
    buffer = torch.as_tensor(np.asarray(values, dtype=np.float64)).to(_device(group))
    dist.all_reduce(buffer, op=dist.ReduceOp.SUM, group=group)
    return buffer.cpu().numpy()


def _numeric(metrics: Mapping[str, Any]) -> dict[str, float]:
    found = {}
    for key, value in metrics.items():
        array = getattr(value, "data", value)  # a minigrad Tensor keeps its array in .data
        if isinstance(value, numbers.Real):
            found[str(key)] = float(value)
        elif isinstance(array, np.ndarray | np.generic) and array.size == 1:
            found[str(key)] = float(array.reshape(()))
    return found


def _mean_metrics(local: Mapping[str, Any], gathered: Sequence[dict[str, float]]) -> dict:
    """Numeric metrics every rank reported, averaged; anything else kept as this rank's."""
    merged = dict(local)
    for key in gathered[0]:
        if all(key in ranks for ranks in gathered):
            merged[key] = math.fsum(ranks[key] for ranks in gathered) / len(gathered)
    return merged


def _global_projection(run: pipeline.Evaluation, group: Any) -> tuple[np.ndarray, float]:
    """This rank's shard of the PCGrad-projected gradient of the whole batch, and its norm.

    The projected total is ``Σₖ cₖ wₖ gₖ`` with coefficients from the Gram
    matrix of the weighted term gradients (:func:`pcgrad_coefficients`). The
    gradient of the mean loss with respect to every rank's logprobs is the
    ranks' gradients over ``world``: its Gram matrix is the all-reduced sum
    of the local ones over ``world²``, a common factor the coefficients do
    not depend on.
    """
    _, weights, grads = _term_gradients(run)
    count = len(grads)
    gram = _all_reduce(weighted_gram(weights, grads).reshape(-1), group).reshape(count, count)
    coefficients = pcgrad_coefficients(gram)
    local = weighted_sum([c * w for c, w in zip(coefficients, weights, strict=True)], grads)
    [square] = _all_reduce([kernels.sum_of_squares(local)], group)
    world = dist.get_world_size(group)
    return local.reshape(run.total_gradient.shape), math.sqrt(square) / world


def _global_output(
    run: pipeline.Evaluation, group: Any, track: bool, conflict: str = "none"
) -> CustomLossOutput:
    output = run.output
    world = dist.get_world_size(group)
    names, weights, grads = _term_gradients(run)
    metrics = [output.base_loss["custom"]] + [reg.custom for reg in output.regularizers.values()]
    gathered: list[Any] = [None] * world
    numeric = [_numeric(m) for m in metrics]
    dist.all_gather_object(gathered, (names, numeric, conflict), group=group)
    if any(ranks[0] != names for ranks in gathered):
        raise ValueError(
            "every rank must pass the same regularizers; got names "
            f"{[ranks[0] for ranks in gathered]}"
        )
    if any(ranks[2] != conflict for ranks in gathered):
        raise ValueError(
            f"every rank must pass the same conflict; got {[ranks[2] for ranks in gathered]}"
        )
    local_values = [output.base_loss["value"]] + [r.value for r in output.regularizers.values()]
    stats = list(local_values)
    if track:
        total = run.total_gradient
        stats += [kernels.sum_of_squares(g) for g in grads]
        stats += [kernels.sum_of_squares(total)]
        stats += [kernels.dot(g, total) for g in grads]
    summed = _all_reduce(stats, group)
    count = len(names)
    values = summed[:count] / world
    term_metrics = [
        _mean_metrics(metrics[i], [ranks[1][i] for ranks in gathered]) for i in range(count)
    ]
    norms: list[float | None] = [None] * count
    total_norm = alignment = None
    if track:
        squares, total_square, dots = (
            summed[count : 2 * count],
            summed[2 * count],
            summed[2 * count + 1 :],
        )
        # The global gradient is every rank's gradient over `world` (the loss is their mean).
        norms = [math.sqrt(s) / world for s in squares]
        total_norm = math.sqrt(total_square) / world
        alignment = {
            name: cosine_from_dot(dot, math.sqrt(s), math.sqrt(total_square)) if w > 0 else 0.0
            for name, w, s, dot in zip(names, weights, squares, dots, strict=True)
        }
    outputs = [
        RegularizerOutput.from_computation(
            name, values[i], weights[i], term_metrics[i], grad_norm=norms[i]
        )
        for i, name in enumerate(names)
        if i > 0
    ]
    if alignment is not None:
        outputs = [replace(out, grad_alignment=alignment[out.name]) for out in outputs]
    return CustomLossOutput.build(
        values[0],
        term_metrics[0],
        outputs,
        base_grad_norm=norms[0],
        total_grad_norm=total_norm,
        grad_alignment=alignment,
    )


# ------------------------------------------------------- parameter norms


def _with_param_norms(
    output: CustomLossOutput,
    run: pipeline.Evaluation,
    tensors: list[torch.Tensor],
    shapes: list[tuple[int, ...]],
    params: list[torch.Tensor],
    group: Any,
) -> CustomLossOutput:
    _, weights, grads = _term_gradients(run)
    flat_terms = []
    for grad in grads:
        pieces = [grad] if len(tensors) == 1 else _split(grad, shapes)
        outputs = [
            torch.from_numpy(np.ascontiguousarray(p)).to(dtype=t.dtype, device=t.device)
            for p, t in zip(pieces, tensors, strict=True)
        ]
        # One backward through the model per term; the graph is kept for the final one.
        param_grads = torch.autograd.grad(
            tensors, params, grad_outputs=outputs, retain_graph=True, allow_unused=True
        )
        flat = torch.cat(
            [
                (torch.zeros_like(p) if g is None else g).detach().reshape(-1).double()
                for g, p in zip(param_grads, params, strict=True)
            ]
        )
        if group is not None:
            # DDP averages parameter gradients over ranks: so does the reported norm.
            dist.all_reduce(flat, op=dist.ReduceOp.SUM, group=group)
            flat = flat / dist.get_world_size(group)
        flat_terms.append(flat)
    total = torch.zeros_like(flat_terms[0])
    for weight, flat in zip(weights, flat_terms, strict=True):
        total += weight * flat  # linear: Σ wᵢ ∂termᵢ/∂θ, no further backward
    norms = [float(torch.linalg.vector_norm(f)) for f in flat_terms]
    regularizers = {
        name: replace(reg, param_grad_norm=norm)
        for (name, reg), norm in zip(output.regularizers.items(), norms[1:], strict=True)
    }
    base_loss = {**output.base_loss, "param_grad_norm": norms[0]}
    return replace(
        output,
        base_loss=base_loss,
        regularizers=regularizers,
        total_param_grad_norm=float(torch.linalg.vector_norm(total)),
    )


# --------------------------------------------------------- training client


class TorchTrainingClient:
    """The :class:`~gradtrack.custom_loss.TrainingClient` protocol over a PyTorch causal LM.

    ``model(input_ids)`` must return logits of shape ``(batch, tokens,
    vocabulary)`` or an object with ``.logits`` (as Hugging Face models do).
    Each datum's ``model_input`` tokens are the model's input and its
    ``target_tokens`` (one per input token) are scored:
    ``logprobs[t] = log softmax(logits[t])[target_tokens[t]]``. Data of
    different lengths are right-padded into one batch; a causal model's
    logits at the real positions do not see the padding.

    ``forward`` runs without a graph; ``forward_backward(data,
    "cross_entropy")`` accumulates into ``.grad`` the parameter gradient of
    ``−Σ weights · logprobs`` (weights from ``loss_fn_inputs["weights"]``,
    1 where absent), which is what
    :func:`~gradtrack.custom_loss.forward_backward_custom` needs; its metric
    ``"loss"`` is that sum. :meth:`optim_step` steps the optimizer and clears
    the gradients. Logprobs come back in float64 for a float64 model and in
    float32 otherwise.

    Examples
    --------
    >>> import torch
    >>> from gradtrack.types import ModelInput
    >>> torch.manual_seed(0)  # doctest: +ELLIPSIS
    <torch._C.Generator object at ...>
    >>> lm = torch.nn.Sequential(torch.nn.Embedding(5, 8), torch.nn.Linear(8, 5))
    >>> client = TorchTrainingClient(lm, torch.optim.SGD(lm.parameters(), lr=0.1))
    >>> datum = Datum(ModelInput.from_ints([1, 2, 3]), {"target_tokens": [2, 3, 4]})
    >>> out = client.forward([datum], "cross_entropy")
    >>> out.loss_fn_outputs[0]["logprobs"].shape
    [3]
    """

    def __init__(self, model: torch.nn.Module, optimizer: torch.optim.Optimizer | None = None):
        if not isinstance(model, torch.nn.Module):
            raise TypeError(f"model must be a torch.nn.Module, got {type(model).__name__}")
        if optimizer is not None and not isinstance(optimizer, torch.optim.Optimizer):
            raise TypeError(
                f"optimizer must be a torch.optim.Optimizer or None, got {type(optimizer).__name__}"
            )
        self.model = model
        self.optimizer = optimizer

    def forward(self, data: Sequence[Datum], loss_fn: str) -> ForwardBackwardOutput:
        """Per-datum logprobs of the target tokens, without a graph."""
        _check_loss_fn(loss_fn)
        with torch.no_grad():
            logprobs = self._logprobs(data)
        return ForwardBackwardOutput(loss_fn, [_entry(lp) for lp in logprobs], {})

    def forward_backward(self, data: Sequence[Datum], loss_fn: str) -> ForwardBackwardOutput:
        """Accumulate the parameter gradient of ``−Σ weights · logprobs`` into ``.grad``."""
        _check_loss_fn(loss_fn)
        logprobs = self._logprobs(data)
        loss = torch.zeros((), dtype=logprobs[0].dtype, device=logprobs[0].device)
        for index, (datum, lp) in enumerate(zip(data, logprobs, strict=True)):
            loss = loss - (_weights(datum, index, lp) * lp).sum()
        loss.backward()
        metrics = {"loss": float(loss.detach())}
        return ForwardBackwardOutput(loss_fn, [_entry(lp) for lp in logprobs], metrics)

    def optim_step(self) -> None:
        """Step the optimizer on the accumulated gradients, then clear them.

        Raises
        ------
        ValueError
            The client was made without an optimizer.
        """
        if self.optimizer is None:
            raise ValueError("this TorchTrainingClient has no optimizer: pass one to step")
        self.optimizer.step()
        self.optimizer.zero_grad()

    def _logprobs(self, data: Sequence[Datum]) -> list[torch.Tensor]:
        data = list(data)
        if not data:
            raise ValueError("data is empty: there is nothing to run the model on")
        tokens, targets = [], []
        for index, datum in enumerate(data):
            if not isinstance(datum, Datum):
                raise TypeError(f"data[{index}] must be a Datum, got {type(datum).__name__}")
            inputs = datum.model_input.to_ints()
            target = datum.loss_fn_inputs.get("target_tokens")
            if target is None:
                raise ValueError(f"target_tokens missing from loss_fn_inputs of data[{index}]")
            target_ids = np.asarray(target.to_numpy(), dtype=np.int64).reshape(-1)
            if len(target_ids) != len(inputs):
                raise ValueError(
                    f"data[{index}]: {len(target_ids)} target_tokens for {len(inputs)} input "
                    "tokens; a causal LM scores one target per input token"
                )
            tokens.append(inputs)
            targets.append(target_ids)
        device = next(self.model.parameters()).device
        longest = max(len(t) for t in tokens)
        padded = torch.zeros((len(tokens), longest), dtype=torch.long, device=device)
        for row, ids in enumerate(tokens):
            padded[row, : len(ids)] = torch.tensor(ids, dtype=torch.long)
        result = self.model(padded)
        logits = getattr(result, "logits", result)
        if not (isinstance(logits, torch.Tensor) and logits.dim() == 3):
            raise TypeError(
                "model(input_ids) must return logits (batch, tokens, vocabulary) or an object "
                f"with .logits, got {type(result).__name__}"
            )
        if logits.dtype != torch.float64:
            logits = logits.float()
        logsoftmax = torch.log_softmax(logits, dim=-1)
        return [
            logsoftmax[row, : len(ids)].gather(-1, torch.as_tensor(ids, device=device)[:, None])[
                :, 0
            ]
            for row, ids in enumerate(targets)
        ]


def _check_loss_fn(loss_fn: str) -> None:
    if loss_fn != LINEAR_LOSS_FN:
        raise ValueError(
            f"TorchTrainingClient implements only the {LINEAR_LOSS_FN!r} loss, got {loss_fn!r}"
        )


def _entry(logprobs: torch.Tensor) -> dict[str, TensorData]:
    return {"logprobs": TensorData.from_numpy(logprobs.detach().cpu().numpy())}


def _weights(datum: Datum, index: int, logprobs: torch.Tensor) -> torch.Tensor:
    weights = datum.loss_fn_inputs.get("weights")
    if weights is None:
        return torch.ones_like(logprobs)
    array = np.asarray(weights.to_numpy()).reshape(-1)
    if array.shape != tuple(logprobs.shape):
        raise ValueError(
            f"data[{index}]: weights shape {array.shape} does not match the "
            f"{tuple(logprobs.shape)} target tokens"
        )
    return torch.as_tensor(array, device=logprobs.device).to(logprobs.dtype)
