"""The demo's training run: a character model trained with a regularized custom loss.

This module lets you run, from Python, what ``gradtrack demo`` runs:
:func:`run_demo` trains a :class:`~gradtrack.local.CharLM` on the bundled
fables through :class:`~gradtrack.local.LocalTrainingClient` and
:func:`~gradtrack.custom_loss.forward_backward_custom`, with the mean
negative log-likelihood (:func:`nll_loss`) as the base loss and the chosen
regularizers added by the pipeline, and writes into the output folder:

``metrics.jsonl``
    One JSON object per step, written and flushed as the step ends: the
    step's ``CustomLossOutput.to_dict()`` (``loss_total``,
    ``regularizer_total``, ``base_loss``, ``regularizers`` and, with
    tracking, ``total_grad_norm`` and ``grad_alignment``) plus ``step``
    (from 1), ``wall_time`` (seconds since training began) and, every
    ``eval_every`` steps and at the last, ``val_nll`` (mean NLL per character
    of the held-out text); over the last steps of a tracked run with
    regularizers (see :func:`~gradtrack.demo.acting.conflict_window`),
    ``grad_conflicts``: the cosines between the weighted term gradients.
``summary.json``
    The configuration, the model, the first and last losses, the terms at
    the end (see :mod:`gradtrack.demo.table`), the conflict mode and the
    conflict matrix averaged over the last steps, each regularizer's weight
    at the start and the end (``DemoConfig.target_shares`` moves them with
    a :class:`~gradtrack.balance.ShareController`), text sampled before and
    after training, and ``interrupted``.

Everything random comes from ``numpy`` Generators seeded by
``DemoConfig.seed``, so a run is reproducible: the same seed gives the same
numbers (on the same machine and library versions).
"""

from __future__ import annotations

import contextlib
import json
import math
import sys
import time
import warnings
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, TextIO

import numpy as np

import minigrad as mg
from gradtrack._validate import check_flag
from gradtrack.balance import ShareController
from gradtrack.conflicts import check_conflict_mode
from gradtrack.custom_loss import forward_backward_custom
from gradtrack.demo.acting import (
    conflict_window,
    resolve_target_shares,
    step_conflicts,
)
from gradtrack.demo.data import TextData, load_corpus, make_data, window_starts
from gradtrack.demo.files import create_new
from gradtrack.demo.progress import progress_bar
from gradtrack.demo.regularizers import DEFAULT_REGULARIZERS, needs_reference, parse_regularizers
from gradtrack.demo.summary import build_summary, write_json
from gradtrack.demo.table import format_table
from gradtrack.errors import NonFiniteError
from gradtrack.local import AdamParams, CharLM, LocalTrainingClient, TinyGPT
from gradtrack.loggers import open_logger, parse_log_to
from gradtrack.types import CustomLossOutput, Datum, RegularizerSpec
from minigrad.memory import tune_allocator

__all__ = [
    "GPT_SIZE",
    "MODEL_KINDS",
    "MODEL_SIZE",
    "DemoConfig",
    "DemoResult",
    "DemoSettingsError",
    "default_out_folder",
    "nll_loss",
    "non_finite_term",
    "run_demo",
]

MODEL_SIZE = {"context": 8, "embed_dim": 16, "hidden": 128}
"""The demo model's shape: 8 characters of context, 16-wide embeddings, 128 hidden units."""

GPT_SIZE = {"block_size": 64, "d_model": 48, "n_heads": 4, "n_layers": 2}
"""The transformer's shape (``--model gpt``): 2 blocks of 4 heads, 48 wide, 64 characters seen."""

MODEL_KINDS = {
    "mlp": "character-level MLP language model",
    "gpt": "character-level decoder-only transformer (tiny GPT)",
}
"""The models ``--model`` chooses from, and how the summary names them."""

SAMPLE_PROMPTS = ("The Fox ", "A Lion ", "The Mouse ")
SAMPLE_LENGTH = 72
# Below 1, so that what the model has learnt shows through the noise of sampling.
SAMPLE_TEMPERATURE = 0.6
# Reference logprobs for the whole training pool are computed in chunks of this many data.
_REFERENCE_CHUNK = 256


class DemoSettingsError(ValueError):
    """Settings the data cannot satisfy, found before training starts.

    Examples
    --------
    >>> issubclass(DemoSettingsError, ValueError)
    True
    """


@dataclass
class DemoConfig:
    """Everything that decides a demo run (``gradtrack demo --help`` explains each).

    ``out=None`` writes to a new folder under ``runs/`` named after the date
    and time. Invalid values are a ``ValueError`` naming the field (a
    ``TypeError`` for a flag that is not a bool).

    ``conflict`` is passed to
    :func:`~gradtrack.custom_loss.forward_backward_custom` (``"pcgrad"``
    trains on the projected total gradient). ``target_shares`` maps
    regularizer names (``"kl"`` or ``"kl_divergence"``) to the norm share
    each should hold; a :class:`~gradtrack.balance.ShareController` then
    sets their weights after every step (it needs ``track=True``).

    Examples
    --------
    >>> config = DemoConfig(steps=10)
    >>> config.steps, config.batch_size, config.regularizers
    (10, 16, 'entropy:0.001,kl:0.0002,l2:0.02')
    """

    steps: int = 600
    seed: int = 0
    regularizers: str = DEFAULT_REGULARIZERS
    lr: float = 0.005
    batch_size: int = 16
    seq_len: int = 64
    sequential: bool = False
    track: bool = True
    plot: bool = True
    out: Path | None = None
    quiet: bool = False
    eval_every: int = 50
    log_to: str = ""
    model: str = "mlp"
    conflict: str = "none"
    target_shares: dict[str, float] = field(default_factory=dict)

    def __post_init__(self) -> None:
        try:
            check_conflict_mode(self.conflict)
        except (TypeError, ValueError) as exc:
            raise ValueError(f"DemoConfig {exc}") from None
        if not isinstance(self.target_shares, Mapping):
            raise ValueError(
                "DemoConfig target_shares must be a mapping of regularizer names to shares, "
                f"got {self.target_shares!r}"
            )
        if self.target_shares:
            try:
                ShareController(self.target_shares)
            except (TypeError, ValueError) as exc:
                raise ValueError(f"DemoConfig target_shares: {exc}") from None
            if self.track is False:
                raise ValueError(
                    "DemoConfig target_shares needs track=True: shares are measured from the "
                    "gradient norms"
                )
        if not isinstance(self.log_to, str):
            raise ValueError(f"DemoConfig log_to must be a str, got {self.log_to!r}")
        if self.log_to:
            try:
                parse_log_to(self.log_to)
            except ValueError as exc:
                raise ValueError(f"DemoConfig log_to: {exc}") from None
        if self.model not in MODEL_KINDS:
            raise ValueError(
                f"DemoConfig model must be one of {sorted(MODEL_KINDS)}, got {self.model!r}"
            )
        for name in ("steps", "batch_size", "eval_every"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"DemoConfig {name} must be an int >= 1, got {value!r}")
        if isinstance(self.seq_len, bool) or not isinstance(self.seq_len, int) or self.seq_len < 2:
            raise ValueError(f"DemoConfig seq_len must be an int >= 2, got {self.seq_len!r}")
        if isinstance(self.seed, bool) or not isinstance(self.seed, int) or self.seed < 0:
            raise ValueError(f"DemoConfig seed must be an int >= 0, got {self.seed!r}")
        if not (isinstance(self.lr, int | float) and math.isfinite(self.lr) and self.lr > 0):
            raise ValueError(f"DemoConfig lr must be a positive finite number, got {self.lr!r}")
        for name in ("sequential", "track", "plot", "quiet"):
            # "no" would read as true: a flag must be a bool.
            check_flag(f"DemoConfig {name}", getattr(self, name))


def default_out_folder(root: str | Path = "runs") -> Path:
    """A new folder name under ``root`` for a run: the date and time, made unique.

    Examples
    --------
    >>> default_out_folder().parent.name
    'runs'
    """
    # The one place a run depends on the clock: the name of its folder.
    base = Path(root) / time.strftime("%Y%m%d-%H%M%S")
    candidate, suffix = base, 2
    while candidate.exists():
        candidate, suffix = base.with_name(f"{base.name}-{suffix}"), suffix + 1
    return candidate


@dataclass
class DemoResult:
    """What :func:`run_demo` returns: the summary it wrote, the records, and where they are.

    ``summary`` is the content of ``summary.json``, ``records`` the rows of
    ``metrics.jsonl``; ``report`` is the path of ``report.png`` (None when
    not drawn). ``diverged`` is None, or ``{"step", "term", "reason"}`` when
    a loss or gradient went non-finite and training stopped there.

    Examples
    --------
    >>> result = DemoResult(summary={}, records=[], out=Path("runs/x"))
    >>> result.interrupted, result.report
    (False, None)
    """

    summary: dict[str, Any]
    records: list[dict[str, Any]]
    out: Path
    interrupted: bool = False
    report: Path | None = None
    diverged: dict[str, Any] | None = None


def nll_loss(data: Sequence[Datum], logprobs: Sequence[mg.Tensor]) -> tuple[mg.Tensor, dict]:
    """Mean negative log-likelihood per target token, over every datum.

    The base loss of the demo: ``loss_fn(data, logprobs)`` as
    :func:`~gradtrack.custom_loss.forward_backward_custom` calls it, with one
    logprobs Tensor per datum. Metrics: ``nll`` and ``bits_per_char``.

    Examples
    --------
    >>> loss, metrics = nll_loss([], [mg.Tensor([-1.0, -2.0]), mg.Tensor([-3.0])])
    >>> loss.item(), round(metrics["bits_per_char"], 4)
    (2.0, 2.8854)
    """
    count = sum(int(lp.size) for lp in logprobs)
    loss = -mg.concatenate([lp.reshape(-1) for lp in logprobs]).sum() / count
    value = float(loss.item())
    return loss, {"nll": value, "bits_per_char": value / math.log(2)}


@dataclass
class _Setup:
    text: TextData
    client: LocalTrainingClient
    pool: list[Datum]
    validation: list[Datum]
    batch_rng: np.random.Generator
    sample_seed: np.random.SeedSequence


def _reference_logprobs(client: LocalTrainingClient, data: list[Datum]) -> list[np.ndarray]:
    """The current model's target logprobs for every datum (the KL reference)."""
    reference: list[np.ndarray] = []
    for start in range(0, len(data), _REFERENCE_CHUNK):
        output = client.forward(data[start : start + _REFERENCE_CHUNK], "cross_entropy")
        reference.extend(entry["logprobs"].to_numpy() for entry in output.loss_fn_outputs)
    return reference


def _setup(config: DemoConfig, specs: list[RegularizerSpec]) -> _Setup:
    text = TextData.from_text(load_corpus())
    # Independent streams for the weights, the batches and the samples: changing how many
    # batches are drawn never changes the initial model or the sampled text.
    model_seed, batch_seed, sample_seed = np.random.SeedSequence(config.seed).spawn(3)
    model_rng = np.random.default_rng(model_seed)
    if config.model == "gpt":
        model: CharLM | TinyGPT = TinyGPT(len(text.vocab), rng=model_rng, **GPT_SIZE)
    else:
        model = CharLM(len(text.vocab), rng=model_rng, **MODEL_SIZE)
    client = LocalTrainingClient(model)
    # Overlapping windows (half a window apart) so each position is seen with two contexts.
    starts = window_starts(len(text.train), config.seq_len, max(1, config.seq_len // 2))
    pool = make_data(text.train, starts, config.seq_len)
    if needs_reference(specs):
        pool = make_data(text.train, starts, config.seq_len, _reference_logprobs(client, pool))
    validation_starts = window_starts(len(text.validation), config.seq_len, config.seq_len)
    validation = make_data(text.validation, validation_starts, config.seq_len)
    if config.batch_size > len(pool):
        raise DemoSettingsError(
            f"batch size {config.batch_size} is larger than the {len(pool)} training windows"
        )
    return _Setup(text, client, pool, validation, np.random.default_rng(batch_seed), sample_seed)


def _validation_nll(client: LocalTrainingClient, validation: list[Datum]) -> float:
    output = client.forward(validation, "cross_entropy")
    return output.metrics["loss"] / output.metrics["tokens"]


def _samples(setup: _Setup) -> list[str]:
    """A few lines of text from the model; the same draws before and after training."""
    vocab, model = setup.text.vocab, setup.client.model
    rng = np.random.default_rng(setup.sample_seed)
    lines = []
    for prompt in SAMPLE_PROMPTS:
        drawn = model.sample(vocab.encode(prompt), SAMPLE_LENGTH, rng, SAMPLE_TEMPERATURE)
        # One line each: the blank lines between fables become single spaces.
        lines.append(" ".join((prompt + vocab.decode(drawn)).split()))
    return lines


def _one_blas_thread() -> contextlib.AbstractContextManager[Any]:
    """Limit NumPy's BLAS to one thread while the demo runs, when threadpoolctl is installed.

    The model's matrices are small: a second BLAS thread gains little, and
    when it spins on a core the regularizer threads or another process need,
    a step can take three times as long. One thread also makes the numbers
    independent of the machine's core count.
    """
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:
        return contextlib.nullcontext()
    return threadpool_limits(limits=1, user_api="blas")


@dataclass
class _Training:
    """What the training loop reached."""

    records: list[dict[str, Any]]
    wall_time: float
    interrupted: bool = False
    diverged: dict[str, Any] | None = None


def non_finite_term(output: CustomLossOutput) -> tuple[str, str] | None:
    """The first term of a step whose value or gradient norm is not finite, and which.

    Returns ``(term, what)`` with ``term`` ``"base"``, a regularizer's name or
    ``"total"``, or None when every number is finite.

    Examples
    --------
    >>> from gradtrack.types import RegularizerOutput
    >>> l2 = RegularizerOutput.from_computation("l2", float("inf"), 1e300, {})
    >>> non_finite_term(CustomLossOutput.build(2.0, {}, [l2]))
    ('l2', 'value')
    """
    checks: list[tuple[str, str, float | None]] = [("base", "value", output.base_loss["value"])]
    for name, term in output.regularizers.items():
        checks += [(name, "value", term.value), (name, "contribution", term.contribution)]
    checks.append(("base", "gradient norm", output.base_loss.get("grad_norm")))
    for name, term in output.regularizers.items():
        checks.append((name, "weighted gradient norm", term.grad_norm_weighted))
    checks += [
        ("total", "loss", output.loss_total),
        ("total", "gradient norm", output.total_grad_norm),
    ]
    for term_name, what, number in checks:
        if number is not None and not math.isfinite(number):
            return term_name, what
    return None


def _divergence(step: int, term: str, what: str) -> dict[str, Any]:
    label = {"base": "the base loss (nll)", "total": "the total loss"}
    where = label.get(term, f"regularizer {term!r}")
    return {"step": step, "term": term, "reason": f"the {what} of {where} is not finite"}


@contextlib.contextmanager
def _quiet_overflow() -> Iterator[None]:
    """Silence NumPy's overflow warnings while training: divergence is reported, once.

    A diverging run overflows in many places at once (and in the regularizer
    threads, which is why this is a warnings filter and not ``np.errstate``);
    the loop names the step and the term itself, in one line.
    """
    with warnings.catch_warnings():
        warnings.filterwarnings(
            "ignore",
            message="(overflow|invalid value|divide by zero) encountered",
            category=RuntimeWarning,
        )
        yield


def _train(
    config: DemoConfig, specs: list[RegularizerSpec], setup: _Setup, metrics_path: Path
) -> _Training:
    """The training loop: one custom-loss step and one optimizer step per iteration.

    Each record is written and flushed as its step ends, so the file holds
    every finished step whatever happens next. A step whose loss or gradient
    is not finite stops the loop before the optimizer applies it: its record
    (when the pipeline produced one) is written with ``"diverged": true``.
    With share targets, a :class:`ShareController` sets the weights of the
    next step from each step's shares (a record shows the weights its step
    trained with); over the last :func:`conflict_window` steps of a tracked
    run, each record also gets the step's conflict matrix.
    """
    targets = resolve_target_shares(config.target_shares, specs)
    controller = ShareController(targets) if targets else None
    conflicts_from = config.steps - conflict_window(config.steps) + 1
    adam = AdamParams(learning_rate=config.lr)
    bar = progress_bar(config.steps, quiet=config.quiet)
    started = time.perf_counter()
    training = _Training([], 0.0)

    loggers: list[Any] = []

    def write(metrics_file: TextIO, step: int, output: CustomLossOutput, **extra: Any) -> None:
        record = {"step": step, "wall_time": round(time.perf_counter() - started, 4)}
        record.update(output.to_dict(), **extra)
        # One strict-JSON write per line: an interrupt falls between lines, never inside one.
        metrics_file.write(json.dumps(record, allow_nan=False) + "\n")
        metrics_file.flush()
        for logger in loggers:
            logger.log(output, step)
        training.records.append(record)

    try:
        with (
            _quiet_overflow(),
            create_new(metrics_path) as metrics_file,
            contextlib.ExitStack() as stack,
        ):
            # Extra destinations (--log-to) get the same steps, each flushed as it ends.
            loggers.extend(
                stack.enter_context(open_logger(kind, target, run_name=metrics_path.parent.name))
                for kind, target in (parse_log_to(config.log_to) if config.log_to else [])
            )
            for step in range(1, config.steps + 1):
                chosen = setup.batch_rng.choice(len(setup.pool), config.batch_size, replace=False)
                batch = [setup.pool[i] for i in chosen]
                try:
                    result = forward_backward_custom(
                        setup.client,
                        batch,
                        nll_loss,
                        regularizers=specs,
                        track_grad_norms=config.track,
                        parallel=not config.sequential,
                        conflict=config.conflict,
                    )
                except NonFiniteError as exc:
                    if exc.output is not None:
                        write(metrics_file, step, exc.output, diverged=True)
                    reason = {"step": step, "term": exc.term, "reason": str(exc)}
                    training.diverged = reason
                    break
                output = result.custom_loss
                if output is None:  # no regularizers and no tracking: only the base loss
                    output = CustomLossOutput.build(result.metrics["nll"], result.metrics, [])
                bad = non_finite_term(output)
                if bad is not None:
                    write(metrics_file, step, output, diverged=True)
                    term, what = bad
                    training.diverged = _divergence(step, term, what)
                    break
                extra: dict[str, Any] = {}
                if config.track and specs and step >= conflicts_from:
                    # The logprobs of forward_backward are those the step was computed at.
                    extra["grad_conflicts"] = step_conflicts(nll_loss, batch, result, specs)
                setup.client.optim_step(adam)
                if controller is not None:
                    controller.update(output)
                    specs = controller.specs(specs)  # the weights of the next step
                if step % config.eval_every == 0 or step == config.steps:
                    extra["val_nll"] = _validation_nll(setup.client, setup.validation)
                write(metrics_file, step, output, **extra)
                bar.update(output.loss_total, output.total_grad_norm)
    except KeyboardInterrupt:
        training.interrupted = True
    finally:
        bar.close()
    training.wall_time = time.perf_counter() - started
    return training


def _describe(
    config: DemoConfig, specs: list[RegularizerSpec], setup: _Setup, out: Path
) -> dict[str, Any]:
    """The parts of the summary that describe the run rather than its results."""
    model = setup.client.model
    settings = {key: value for key, value in asdict(config).items() if key != "out"}
    settings["out"] = str(out)
    return {
        "settings": settings,
        "model": {
            "kind": MODEL_KINDS[config.model],
            "parameters": int(sum(p.size for p in model.parameters())),
            "vocab_size": model.vocab_size,
            **(GPT_SIZE if config.model == "gpt" else MODEL_SIZE),
        },
        "corpus": {
            "name": "Aesop's fables (bundled, public domain)",
            "train_characters": len(setup.text.train),
            "validation_characters": len(setup.text.validation),
        },
        "regularizers": [{"name": spec.name, "weight": spec.weight} for spec in specs],
    }


def _acting(config: DemoConfig, specs: list[RegularizerSpec]) -> str:
    """How the run acts on the diagnosis, in a few words ("" when it does not)."""
    parts = []
    if config.conflict != "none":
        parts.append(f"conflicts: {config.conflict}")
    targets = resolve_target_shares(config.target_shares, specs)
    if targets:
        shares = ", ".join(f"{name} {share:g}" for name, share in targets.items())
        parts.append(f"target shares: {shares}")
    return "; ".join(parts)


def _subtitle(config: DemoConfig, specs: list[RegularizerSpec]) -> str:
    terms = "".join(f" + {spec.weight:g}·{spec.name}" for spec in specs)
    acting = _acting(config, specs)
    return (
        f"{config.steps} steps of {config.batch_size}×{config.seq_len} characters, "
        f"Adam lr {config.lr:g}, seed {config.seed}\nloss = nll{terms}"
        + ("" if config.track else "   (gradient tracking off)")
        + (f"   ({acting})" if acting else "")
    )


def _header(config: DemoConfig, specs: list[RegularizerSpec], setup: _Setup, out: Path) -> str:
    parameters = sum(p.size for p in setup.client.model.parameters())
    terms = ", ".join(f"{spec.name} x {spec.weight:g}" for spec in specs) or "none"
    acting = _acting(config, specs)
    return (
        f"gradtrack demo: a {parameters:,}-parameter character model learns Aesop's fables\n"
        f"  {config.steps} steps of {config.batch_size} x {config.seq_len} characters, "
        f"Adam lr {config.lr:g}, seed {config.seed}\n"
        f"  loss = mean NLL + regularizers: {terms}\n"
        f"  gradient tracking {'on' if config.track else 'off'}; "
        f"regularizers run {'one after another' if config.sequential else 'in parallel'}\n"
        + (f"  acting on the diagnosis: {acting}\n" if acting else "")
        + f"  writing to {out}"
    )


def _sample_block(title: str, lines: list[str]) -> str:
    return "\n".join([title, *(f"  {line}" for line in lines)])


def run_demo(
    config: DemoConfig,
    specs: list[RegularizerSpec] | None = None,
    *,
    stream: TextIO | None = None,
) -> DemoResult:
    """Train, write ``metrics.jsonl``, ``summary.json`` and (unless disabled) ``report.png``.

    Parameters
    ----------
    config : DemoConfig
        ``config.out`` must be a writable folder (created if missing; a new
        dated folder under ``runs/`` when None).
    specs : list of RegularizerSpec, optional
        The regularizers; parsed from ``config.regularizers`` when omitted.
    stream : text stream, optional
        Where the header, samples and table go (default: stdout); the
        progress bar goes to stderr.

    Returns
    -------
    DemoResult
        With ``interrupted=True`` (and a summary saying so) if Ctrl-C
        stopped training; what was written up to then stays intact. With
        ``diverged`` set (and ``summary["diverged"]``) if a loss, gradient
        or the model's logprobs went non-finite: training stops at that
        step, before the optimizer applies it, and no samples or picture
        are made of the broken model. Every file is strict JSON (a
        non-finite number is ``null``).

    Raises
    ------
    DemoSettingsError
        The settings do not fit the data (a batch larger than the training
        set) or a share target names no regularizer of the run, found before
        anything is written.

    Examples
    --------
    >>> import tempfile
    >>> with tempfile.TemporaryDirectory() as folder:  # doctest: +SKIP
    ...     result = run_demo(DemoConfig(steps=20, out=Path(folder), plot=False))
    ...     print(result.summary["steps_completed"])
    20
    """
    stream = sys.stdout if stream is None else stream

    def say(text: str = "") -> None:
        if not config.quiet:
            print(text, file=stream, flush=True)

    specs = parse_regularizers(config.regularizers) if specs is None else specs
    out = default_out_folder() if config.out is None else Path(config.out)
    # Keeping freed arrays' memory in the process makes each step faster (see
    # minigrad.memory); a command-line run owns its process, so it opts in.
    try:
        resolve_target_shares(config.target_shares, specs)
    except ValueError as exc:
        raise DemoSettingsError(f"target_shares: {exc}") from None
    tune_allocator()
    with _one_blas_thread():
        # Settings that do not fit the data fail here, before the folder exists.
        setup = _setup(config, specs)
        out.mkdir(parents=True, exist_ok=True)
        return _run(config, specs, setup, out, say)


def _run(
    config: DemoConfig,
    specs: list[RegularizerSpec],
    setup: _Setup,
    out: Path,
    say: Callable[..., None],
) -> DemoResult:
    say(_header(config, specs, setup, out))
    samples: dict[str, Any] = {
        "before": _samples(setup),
        "after": None,
        "temperature": SAMPLE_TEMPERATURE,
    }
    say()
    say(_sample_block("Before training, the model writes:", samples["before"]))
    say()
    initial_val = _validation_nll(setup.client, setup.validation)

    training = _train(config, specs, setup, out / "metrics.jsonl")
    records, interrupted, wall_time = training.records, training.interrupted, training.wall_time
    stopped = interrupted or training.diverged is not None
    if not stopped:
        samples["after"] = _samples(setup)
    summary = build_summary(
        **_describe(config, specs, setup, out),
        records=records,
        interrupted=interrupted,
        wall_time=wall_time,
        initial_val=initial_val,
        samples=samples,
        diverged=training.diverged,
        conflict=config.conflict,
        target_shares=resolve_target_shares(config.target_shares, specs),
    )
    # Written before the (slower) picture, so it exists even if that is stopped.
    write_json(out / "summary.json", summary)
    if interrupted:
        say(
            f"interrupted after {len(records)} of {config.steps} steps; "
            f"metrics.jsonl and summary.json are in {out}"
        )
        return DemoResult(summary, records, out, interrupted=True)
    if training.diverged is not None:
        # The caller reports it (the command line in one line); nothing more to draw.
        return DemoResult(summary, records, out, diverged=training.diverged)

    report = None
    if config.plot:
        from gradtrack.demo.report import write_report

        report = write_report(
            records,
            out / "report.png",
            initial_val=initial_val,
            subtitle=_subtitle(config, specs),
            samples={"before": samples["before"][:2], "after": samples["after"][:2]},
            targets=summary["weights"]["targets"],
        )
        summary["files"]["report"] = report.name
        write_json(out / "summary.json", summary)

    say(format_table(summary["final_terms"]))
    validation = summary["validation_nll"]
    say(
        f"\nvalidation NLL {validation['initial']:.3f} -> {validation['final']:.3f} "
        f"nats per character; {wall_time:.1f} s of training"
    )
    say()
    say(_sample_block("After training, the model writes:", samples["after"]))
    written = ["metrics.jsonl", "summary.json"] + ([report.name] if report else [])
    say(f"\nwrote {', '.join(written)} to {out}")
    return DemoResult(summary, records, out, report=report)
