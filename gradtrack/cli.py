"""The ``gradtrack`` command (also ``python -m gradtrack``).

This module lets you run gradtrack from a terminal:

``gradtrack demo``
    Trains a small character-level language model on the bundled fables
    with a regularized custom loss and live gradient tracking, then prints
    a table of every loss term (value, contribution, gradient norm, share of
    the gradient, alignment) and writes ``metrics.jsonl``, ``summary.json``
    and ``report.png``. See :mod:`gradtrack.demo`.
``gradtrack gradcheck MODULE:FUNCTION``
    Checks a regularizer you wrote: its autodiff gradient against finite
    differences on random logprobs (exit status 0 if they agree, 1 if not).

Bad input is reported in one line on stderr, with exit status 2, before
anything runs; Ctrl-C during the demo stops it with exit status 130, and
what was written so far stays readable.
"""

from __future__ import annotations

import argparse
import hashlib
import importlib
import importlib.util
import math
import os
import sys
import tempfile
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, NoReturn

__all__ = ["load_object", "main"]

EXIT_OK, EXIT_FAILED, EXIT_USAGE, EXIT_INTERRUPTED = 0, 1, 2, 130

MAX_GRADCHECK_ELEMENTS = 100_000
"""The largest logprobs ``gradtrack gradcheck --shape`` accepts (two evaluations per element)."""


class _UsageError(Exception):
    """Bad input found after parsing (a folder that cannot be written, an unknown regularizer)."""


class _Parser(argparse.ArgumentParser):
    """An argument parser whose errors are one line: ``gradtrack demo: error: ...``."""

    def error(self, message: str) -> NoReturn:
        self.exit(EXIT_USAGE, f"{self.prog}: error: {message} (see {self.prog} --help)\n")


# ---------------------------------------------------------------- argument types


def _whole_number_from(minimum: int) -> Callable[[str], int]:
    """An argparse type accepting whole numbers of at least ``minimum``."""

    def convert(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from None
        if value < minimum:
            raise argparse.ArgumentTypeError(f"must be at least {minimum}, got {value}")
        return value

    return convert


_positive_int = _whole_number_from(1)
_seed = _whole_number_from(0)


def _positive_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number, got {text!r}") from None
    if not (math.isfinite(value) and value > 0):
        raise argparse.ArgumentTypeError(f"must be a positive finite number, got {text}")
    return value


def _target_share(text: str) -> tuple[str, float]:
    """``NAME=SHARE`` → ``(name, share)`` with the share a number strictly between 0 and 1."""
    name, equals, share_text = text.partition("=")
    if not equals or not name.strip():
        raise argparse.ArgumentTypeError(f"expected NAME=SHARE, such as kl=0.1; got {text!r}")
    try:
        share = float(share_text)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"{name.strip()}: share {share_text!r} is not a number"
        ) from None
    if not 0.0 < share < 1.0:
        raise argparse.ArgumentTypeError(
            f"{name.strip()}: share must be between 0 and 1 (exclusive), got {share_text}"
        )
    return name.strip(), share


def _shape(text: str) -> tuple[int, ...]:
    parts = text.replace("x", ",").split(",")
    try:
        shape = tuple(int(part) for part in parts)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"expected sizes separated by commas, such as 4,8; got {text!r}"
        ) from None
    if not shape or any(size < 1 for size in shape):
        raise argparse.ArgumentTypeError(f"every size must be at least 1, got {text!r}")
    elements = math.prod(shape)
    if elements > MAX_GRADCHECK_ELEMENTS:
        raise argparse.ArgumentTypeError(
            f"{text} is {elements:,} elements; at most {MAX_GRADCHECK_ELEMENTS:,} "
            "(finite differences evaluate the regularizer twice per element)"
        )
    return shape


# ----------------------------------------------------------------------- parser


def _demo_parser(commands: Any) -> None:
    from gradtrack.conflicts import CONFLICT_MODES
    from gradtrack.demo.regularizers import DEFAULT_REGULARIZERS, describe_choices
    from gradtrack.demo.run import DemoConfig

    defaults = DemoConfig()
    demo = commands.add_parser(
        "demo",
        help="train a small language model with regularizers and watch their gradients",
        description=(
            "Train a character-level language model on the bundled Aesop's fables with\n"
            "forward_backward_custom: a mean NLL loss plus regularizers, with the gradient\n"
            "norm of every term tracked at every step. Prints a progress bar (loss and total\n"
            "gradient norm), text sampled before and after training, and a table of the loss\n"
            "terms; writes metrics.jsonl, summary.json and report.png. The default run takes\n"
            "about ten to twenty seconds."
        ),
        epilog=(
            "regularizers (--regularizers NAME:WEIGHT,...; a name alone takes its default "
            "weight):\n" + describe_choices() + "\n\n"
            "The regularizers see the target-token logprobs of the whole batch as one vector:\n"
            "l1, l2, elastic_net and consistency average over its tokens, entropy and kl sum\n"
            "over them. kl and consistency compare with the model as it was before training.\n\n"
            "files in --out:\n"
            "  metrics.jsonl  one JSON object per step: the CustomLossOutput, step, wall_time,\n"
            "                 and val_nll every 50 steps\n"
            "  summary.json   settings, first and last losses, the final table, samples\n"
            "  report.png     loss curves, gradient norm, share and alignment of each term,\n"
            "                 conflicts between terms over the last steps, the weights\n\n"
            "acting on the diagnosis:\n"
            "  --conflict pcgrad trains on the total gradient with the conflicts between terms\n"
            "  projected away (PCGrad); --target-share kl=0.1 moves kl's weight every step so\n"
            "  that its gradient keeps a tenth of the summed term norms (repeatable).\n\n"
            "If a loss or gradient becomes infinite or NaN (a learning rate or weight far too\n"
            "large), training stops at that step with a one-line message naming the step and\n"
            'the term; metrics.jsonl stays valid JSON and summary.json records "diverged".\n\n'
            "exit status: 0 done, 1 diverged, 2 bad input, 130 stopped with Ctrl-C (files stay "
            "readable)"
        ),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    demo.add_argument(
        "--steps",
        type=_positive_int,
        metavar="N",
        default=defaults.steps,
        help=f"training steps (default {defaults.steps})",
    )
    demo.add_argument(
        "--seed",
        type=_seed,
        metavar="N",
        default=defaults.seed,
        help="seed of the initial weights, the batches and the samples; "
        f"the same seed gives the same numbers (default {defaults.seed})",
    )
    demo.add_argument(
        "--regularizers",
        default=DEFAULT_REGULARIZERS,
        metavar="NAME:WEIGHT,...",
        help=f'regularizers and their weights, or "none" (default "{DEFAULT_REGULARIZERS}")',
    )
    demo.add_argument(
        "--lr",
        type=_positive_float,
        default=defaults.lr,
        help=f"Adam learning rate (default {defaults.lr:g})",
    )
    demo.add_argument(
        "--batch-size",
        type=_positive_int,
        metavar="N",
        default=defaults.batch_size,
        help=f"sequences of {defaults.seq_len} characters per step (default {defaults.batch_size})",
    )
    demo.add_argument(
        "--model",
        choices=("mlp", "gpt"),
        default=defaults.model,
        help="the model to train: mlp, a character MLP (the default), or gpt, a tiny "
        "decoder-only transformer (2 blocks, 4 heads; about three times slower per step)",
    )
    demo.add_argument(
        "--sequential",
        action="store_true",
        help="evaluate the regularizers one after another instead of in parallel threads",
    )
    demo.add_argument(
        "--no-track",
        action="store_true",
        help="do not compute gradient norms (faster; the table and picture show losses only)",
    )
    demo.add_argument(
        "--no-plot", action="store_true", help="do not draw report.png (no matplotlib needed)"
    )
    demo.add_argument(
        "--out",
        type=Path,
        default=None,
        metavar="FOLDER",
        help="folder for the files; created if missing, must not hold a run already "
        "(default runs/<date-time>)",
    )
    demo.add_argument(
        "--quiet", action="store_true", help="print nothing but errors (files are still written)"
    )
    demo.add_argument(
        "--conflict",
        choices=CONFLICT_MODES,
        default=defaults.conflict,
        help="pcgrad: project away the conflicts between the weighted term gradients before "
        f"the update (default {defaults.conflict})",
    )
    demo.add_argument(
        "--target-share",
        type=_target_share,
        action="append",
        default=[],
        metavar="NAME=SHARE",
        help="hold a regularizer at this share of the summed gradient norms by adapting its "
        "weight every step, e.g. kl=0.1 (repeatable; needs tracking)",
    )
    demo.add_argument(
        "--log-to",
        default="",
        metavar="DEST[,DEST...]",
        help="also log every step's scalars to tensorboard:DIR, mlflow[:URI], csv:FILE or "
        "jsonl:FILE (comma-separated; tensorboard and mlflow need their extras)",
    )


def _gradcheck_parser(commands: Any) -> None:
    check = commands.add_parser(
        "gradcheck",
        help="check a regularizer's gradient against finite differences",
        description=(
            "Load a regularizer you wrote, fn(data, logprobs) -> (loss, metrics), and compare\n"
            "its autodiff gradient with central finite differences on random logprobs (rows\n"
            "of log-softmax, float64). data is an empty list. A class is instantiated without\n"
            "arguments first."
        ),
        epilog=(
            "example: gradtrack gradcheck my_regularizers:sharpness --shape 4,8\n"
            "exit status: 0 the gradient matches, 1 it does not (or the regularizer fails), "
            "2 bad input"
        ),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    check.add_argument(
        "target",
        metavar="MODULE:FUNCTION",
        help="an importable module (or a path to a .py file) and the name of the regularizer "
        "in it; the current folder is searched first",
    )
    check.add_argument(
        "--shape",
        type=_shape,
        default=(4, 8),
        help=f"shape of the logprobs, at most {MAX_GRADCHECK_ELEMENTS:,} elements (default 4,8)",
    )
    check.add_argument(
        "--seed", type=_seed, default=0, help="seed of the random logprobs (default 0)"
    )
    check.add_argument(
        "--eps", type=_positive_float, default=1e-6, help="finite-difference step (default 1e-6)"
    )
    check.add_argument("--atol", type=float, default=1e-5, help="absolute tolerance (default 1e-5)")
    check.add_argument("--rtol", type=float, default=1e-3, help="relative tolerance (default 1e-3)")


def _parser() -> tuple[_Parser, dict[str, _Parser]]:
    from gradtrack import __version__

    parser = _Parser(
        prog="gradtrack",
        description="gradtrack: gradient tracking for regularized fine-tuning.",
        epilog=(
            "examples:\n"
            "  gradtrack demo                    train (10-20 s), write runs/<date-time>/\n"
            "  gradtrack demo --steps 200 --regularizers entropy:0.002,kl --out runs/try\n"
            "  gradtrack gradcheck my_regularizers:sharpness --shape 4,8\n\n"
            "`gradtrack COMMAND --help` explains each command's options."
        ),
        formatter_class=lambda prog: argparse.RawDescriptionHelpFormatter(
            prog, max_help_position=32
        ),
    )
    parser.add_argument("--version", action="version", version=f"gradtrack {__version__}")
    commands = parser.add_subparsers(
        dest="command", metavar="{demo,gradcheck}", parser_class=_Parser, title="commands"
    )
    _demo_parser(commands)
    _gradcheck_parser(commands)
    return parser, commands.choices


# ------------------------------------------------------------------ demo command


def _prepare_out(out: Path | None) -> tuple[Path, bool]:
    """Create the output folder and make sure a run can be written there, or raise.

    Returns the folder and whether this call created it.
    """
    from gradtrack.demo.run import default_out_folder

    folder = default_out_folder() if out is None else out
    existed = folder.exists()
    if existed and not folder.is_dir():
        raise _UsageError(f"--out {folder}: exists and is not a folder")
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise _UsageError(f"--out {folder}: cannot create the folder ({exc.strerror})") from None
    # lexists: a symbolic link counts even when it points nowhere (it is never written through).
    if os.path.lexists(folder / "metrics.jsonl"):
        raise _UsageError(f"--out {folder}: already holds a run (metrics.jsonl); choose another")
    try:
        with tempfile.TemporaryFile(dir=folder):
            pass
    except OSError as exc:
        raise _UsageError(f"--out {folder}: cannot write there ({exc.strerror})") from None
    return folder, not existed


def _checked_target_shares(args: argparse.Namespace, specs: list[Any]) -> dict[str, float]:
    """The ``--target-share`` values by regularizer name, checked against the run, or raise."""
    from gradtrack.balance import ShareController
    from gradtrack.demo.acting import resolve_target_shares

    if not args.target_share:
        return {}
    if args.no_track:
        raise _UsageError("--target-share needs gradient tracking: drop --no-track")
    given: dict[str, float] = {}
    for name, share in args.target_share:
        if name in given:
            raise _UsageError(f"--target-share: {name!r} is given twice")
        given[name] = share
    try:
        targets = resolve_target_shares(given, specs)
        ShareController(targets)  # the shares must leave the base loss a part
    except ValueError as exc:
        raise _UsageError(f"--target-share: {exc}") from None
    return targets


def _run_demo(args: argparse.Namespace) -> int:
    from gradtrack.demo.regularizers import parse_regularizers
    from gradtrack.demo.run import DemoConfig, DemoSettingsError, run_demo

    try:
        specs = parse_regularizers(args.regularizers)
    except ValueError as exc:
        raise _UsageError(f"--regularizers: {exc}") from None
    target_shares = _checked_target_shares(args, specs)
    if not args.no_plot and importlib.util.find_spec("matplotlib") is None:
        raise _UsageError(
            "report.png needs matplotlib: pip install 'gradtrack[demo]', or pass --no-plot"
        )
    if args.log_to:
        from gradtrack.loggers import missing_packages, mlflow_store_problem, parse_log_to

        try:
            targets = parse_log_to(args.log_to)
        except ValueError as exc:
            raise _UsageError(f"--log-to: {exc}") from None
        for package in missing_packages(targets):
            raise _UsageError(f"--log-to: {package} is not installed: pip install '{package}'")
        problem = mlflow_store_problem(targets)
        if problem is not None:
            raise _UsageError(f"--log-to: {problem}")
    out, created = _prepare_out(args.out)
    config = DemoConfig(
        steps=args.steps,
        seed=args.seed,
        regularizers=args.regularizers,
        lr=args.lr,
        batch_size=args.batch_size,
        sequential=args.sequential,
        model=args.model,
        track=not args.no_track,
        plot=not args.no_plot,
        out=out,
        quiet=args.quiet,
        log_to=args.log_to,
        conflict=args.conflict,
        target_shares=target_shares,
    )
    try:
        result = run_demo(config, specs)
    except DemoSettingsError as exc:  # found before training starts
        if created and not any(out.iterdir()):
            out.rmdir()  # a run that could not start leaves nothing behind
        raise _UsageError(str(exc)) from None
    if result.diverged is not None:
        diverged = result.diverged
        print(
            f"gradtrack demo: diverged at step {diverged['step']}: {diverged['reason']}; "
            f"stopped there (metrics.jsonl and summary.json are in {out})",
            file=sys.stderr,
        )
        return EXIT_FAILED
    return EXIT_INTERRUPTED if result.interrupted else EXIT_OK


# ------------------------------------------------------------- gradcheck command


def _private_module_name(path: Path) -> str:
    """A module name for a user's file that no real module has or will have.

    Registering ``json.py`` as ``json`` would replace the standard library's
    ``json`` for the rest of the process; a name made from the file's full
    path cannot collide with anything importable.
    """
    digest = hashlib.sha256(str(path.resolve()).encode()).hexdigest()[:16]
    stem = "".join(c if c.isalnum() else "_" for c in path.stem)
    return f"_gradtrack_user_file_{stem}_{digest}"


def _load_file(name: str) -> Any:
    path = Path(name)
    if not path.is_file():
        raise _UsageError(f"{name}: no such file")
    spec = importlib.util.spec_from_file_location(_private_module_name(path), path)
    if spec is None or spec.loader is None:
        raise _UsageError(f"{name}: cannot be loaded as a Python module")
    module = importlib.util.module_from_spec(spec)
    # Registered before it runs, as an import would: dataclasses and pickling look it up.
    sys.modules[spec.name] = module
    try:
        spec.loader.exec_module(module)
    except Exception as exc:
        del sys.modules[spec.name]
        raise _UsageError(f"cannot load {name}: {_one_line(exc)}") from None
    return module


def _one_line(exc: BaseException) -> str:
    """``Type: message`` on one line (a SyntaxError's message names the file and line)."""
    text = " ".join(str(exc).split())
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


def _import_module(name: str) -> Any:
    if name.endswith(".py") or os.sep in name or "/" in name:
        return _load_file(name)
    # Like `python -m`, look in the current folder first: that is where a researcher's file is.
    if os.getcwd() not in sys.path:
        sys.path.insert(0, os.getcwd())
    try:
        return importlib.import_module(name)
    except ModuleNotFoundError as exc:
        if exc.name is not None and name.startswith(exc.name):
            raise _UsageError(f"cannot import module {name!r}: {exc}") from None
        raise _UsageError(f"cannot import module {name!r}: {_one_line(exc)}") from None
    except Exception as exc:  # the module itself failed: a syntax error, a failing import
        raise _UsageError(f"cannot import module {name!r}: {_one_line(exc)}") from None


def load_object(target: str) -> Any:
    """The object named by ``"module:attribute"`` (the attribute may be dotted).

    The module is imported by name (the current folder is searched first)
    or, when it ends in ``.py`` or holds a path separator, loaded from that
    file under a private module name (so a file called ``json.py`` never
    takes the place of the standard library's ``json``).

    Raises
    ------
    ValueError
        ``target`` has no ``:``, the module cannot be found or fails while
        it is imported (a syntax error, say; the message is one line), or it
        has no such attribute.

    Examples
    --------
    >>> load_object("math:pi")
    3.141592653589793
    >>> load_object("os.path:join.__name__")
    'join'
    >>> load_object("math:tau2")
    Traceback (most recent call last):
    ...
    ValueError: module 'math' has no attribute 'tau2'
    """
    module_name, colon, attribute = target.rpartition(":")
    if not colon or not module_name or not attribute:
        raise ValueError(f"expected MODULE:FUNCTION, got {target!r}")
    try:
        found = _import_module(module_name)
    except _UsageError as exc:
        raise ValueError(str(exc)) from None
    for part in attribute.split("."):
        if not hasattr(found, part):
            raise ValueError(f"module {module_name!r} has no attribute {attribute!r}")
        found = getattr(found, part)
    return found


def _run_gradcheck(args: argparse.Namespace) -> int:
    import numpy as np

    from gradtrack.check import check_regularizer
    from gradtrack.errors import RegularizerError
    from gradtrack.types import RegularizerSpec

    try:
        regularizer = load_object(args.target)
    except ValueError as exc:
        raise _UsageError(str(exc)) from None
    name = args.target.rpartition(":")[2]
    if isinstance(regularizer, type):
        try:
            regularizer = regularizer()
        except Exception as exc:
            raise _UsageError(f"{name}: cannot create it without arguments ({exc})") from None
    try:
        spec = RegularizerSpec(regularizer, 1.0, getattr(regularizer, "name", None) or name)
    except (TypeError, ValueError) as exc:
        raise _UsageError(f"{args.target} is not a regularizer: {exc}") from None

    # Random rows of log-probabilities (a log-softmax along the last axis): what a model's
    # logprobs look like, so a regularizer that assumes normalised rows is checked fairly.
    logits = np.random.default_rng(args.seed).normal(size=args.shape)
    shifted = logits - logits.max(axis=-1, keepdims=True)
    logprobs = shifted - np.log(np.exp(shifted).sum(axis=-1, keepdims=True))
    print(f"checking {args.target} on logprobs of shape {args.shape} (seed {args.seed})")
    try:
        report = check_regularizer(spec, [], logprobs, eps=args.eps, atol=args.atol, rtol=args.rtol)
    except RegularizerError as exc:
        cause = exc.__cause__
        detail = f"{type(cause).__name__}: {cause}" if cause is not None else str(exc)
        print(f"FAIL: {spec.name} raised {detail}")
        return EXIT_FAILED
    except ValueError as exc:  # invalid tolerances
        raise _UsageError(str(exc)) from None
    print(("PASS: " if report.passed else "FAIL: ") + str(report))
    return EXIT_OK if report.passed else EXIT_FAILED


# ------------------------------------------------------------------------- main


def main(argv: Sequence[str] | None = None) -> int:
    """Run the ``gradtrack`` command with ``argv`` (default: the process's arguments).

    Returns the exit status: 0 success, 1 a failed check, 2 bad input,
    130 stopped with Ctrl-C.

    Examples
    --------
    >>> main(["gradcheck", "gradtrack.regularizers:L2", "--shape", "2,3"])  # doctest: +ELLIPSIS
    checking gradtrack.regularizers:L2 on logprobs of shape (2, 3) (seed 0)
    PASS: regularizer 'l2_weight_decay': gradient matches finite differences (...)
    0
    """
    parser, commands = _parser()
    args, unknown = parser.parse_known_args(argv)
    if args.command is None:
        if unknown:
            parser.error(f"unrecognized arguments: {' '.join(unknown)}")
        parser.print_help()
        return EXIT_OK
    if unknown:  # reported by the command's parser, which knows its options
        commands[args.command].error(f"unrecognized arguments: {' '.join(unknown)}")
    command = {"demo": _run_demo, "gradcheck": _run_gradcheck}[args.command]
    try:
        return command(args)
    except _UsageError as exc:
        print(f"gradtrack {args.command}: error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:
        print(f"gradtrack {args.command}: interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED
