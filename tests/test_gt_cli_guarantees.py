"""The command line's guarantees: divergence in one line, one-line errors, no stray writes."""

from __future__ import annotations

import json
import os
import sys
import textwrap
from pathlib import Path
from typing import Any

import pytest

from gradtrack.cli import main
from gradtrack.demo.files import replace_atomically
from gradtrack.demo.summary import write_json


def strict_rows(out: Path) -> list[dict[str, Any]]:
    def refuse(token: str) -> Any:
        raise ValueError(f"not JSON: {token}")

    lines = (out / "metrics.jsonl").read_text().splitlines()
    return [json.loads(line, parse_constant=refuse) for line in lines]


def stderr_lines(capsys: pytest.CaptureFixture[str]) -> list[str]:
    return [line for line in capsys.readouterr().err.splitlines() if line.strip()]


# ------------------------------------------------------------------- divergence


@pytest.mark.parametrize(
    ("options", "term"),
    [
        (["--lr", "1e30"], None),  # some term goes non-finite once the weights blow up
        (["--regularizers", "l2:1e300"], "l2_weight_decay"),
    ],
)
def test_divergence_stops_the_demo_in_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], options: list[str], term: str | None
) -> None:
    out = tmp_path / "run"
    status = main(["demo", "--out", str(out), "--quiet", "--no-plot", "--steps", "20", *options])
    assert status == 1
    [line] = stderr_lines(capsys)  # no traceback, no warnings: one line
    summary = json.loads((out / "summary.json").read_text())
    diverged = summary["diverged"]
    assert diverged is not None and diverged["step"] <= 20
    assert line.startswith(f"gradtrack demo: diverged at step {diverged['step']}: ")
    if term is not None:
        assert diverged["term"] == term
    name = diverged["term"]
    assert (repr(name) if name not in ("base", "total", "logprobs") else name) in line
    rows = strict_rows(out)  # every line valid, strict JSON
    assert [row["step"] for row in rows] == list(range(1, len(rows) + 1))
    assert summary["steps_completed"] == len(rows)
    assert not rows or rows[-1].get("diverged") in (True, None)


# ---------------------------------------------------------------- gradcheck errors


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        ("def f(data, lp:\n    return lp.sum(), {}\n", "SyntaxError"),
        ("import a_module_that_is_not_there_at_all\n", "ModuleNotFoundError"),
        ("raise RuntimeError('broken on import')\n", "RuntimeError: broken on import"),
    ],
)
@pytest.mark.parametrize("by_path", [True, False])
def test_gradcheck_reports_a_module_that_fails_to_load_in_one_line(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    source: str,
    expected: str,
    by_path: bool,
) -> None:
    module = f"broken_{abs(hash((source, by_path)))}"
    (tmp_path / f"{module}.py").write_text(source)
    monkeypatch.chdir(tmp_path)
    target = f"{tmp_path / module}.py:f" if by_path else f"{module}:f"
    assert main(["gradcheck", target]) == 2
    [line] = stderr_lines(capsys)
    assert line.startswith("gradtrack gradcheck: error: ") and expected in line
    assert not any(name.startswith(module) for name in sys.modules)


def test_gradcheck_refuses_a_huge_shape_before_allocating(
    capsys: pytest.CaptureFixture[str],
) -> None:
    with pytest.raises(SystemExit) as stopped:
        main(["gradcheck", "gradtrack.regularizers:L2", "--shape", "100000,100000"])
    assert stopped.value.code == 2
    [line] = stderr_lines(capsys)
    assert "--shape" in line and "10,000,000,000 elements" in line


def test_gradcheck_loads_a_file_under_a_private_name(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    import json as standard_json

    user_file = tmp_path / "json.py"
    user_file.write_text(
        textwrap.dedent(
            """
            def f(data, lp):
                return (lp * lp).sum(), {}
            """
        )
    )
    assert main(["gradcheck", f"{user_file}:f", "--shape", "2,2"]) == 0
    assert sys.modules["json"] is standard_json
    assert "PASS" in capsys.readouterr().out


# ------------------------------------------------------------ links are not followed


@pytest.mark.parametrize("name", ["metrics.jsonl", "summary.json.partial"])
def test_demo_never_writes_through_a_link(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], name: str
) -> None:
    out, outside = tmp_path / "run", tmp_path / "outside.txt"
    out.mkdir()
    (out / name).symlink_to(outside)  # dangling: writing through it would create outside.txt
    status = main(["demo", "--out", str(out), "--quiet", "--no-plot", "--steps", "2"])
    assert not outside.exists()
    if name == "metrics.jsonl":
        assert status == 2
        [line] = stderr_lines(capsys)
        assert "already holds a run" in line
    else:
        assert status == 0
        assert json.loads((out / "summary.json").read_text())["steps_completed"] == 2
        assert (out / name).is_symlink()  # left alone


def test_run_files_replace_links_instead_of_following_them(tmp_path: Path) -> None:
    outside = tmp_path / "outside.json"
    outside.write_text("keep me")
    for name in ("summary.json", "report.png"):
        link = tmp_path / name
        link.symlink_to(outside)
        if name == "summary.json":
            write_json(link, {"a": 1})
        else:
            replace_atomically(link, lambda file: file.write(b"png"))
        assert not link.is_symlink()
    assert outside.read_text() == "keep me"
    assert json.loads((tmp_path / "summary.json").read_text()) == {"a": 1}
    assert sorted(os.listdir(tmp_path)) == ["outside.json", "report.png", "summary.json"]
