"""mg.save / mg.load: nested dicts of arrays, Tensors and numbers, never through pickle."""

from __future__ import annotations

import pickle
import zipfile
from pathlib import Path

import numpy as np
import pytest

import minigrad as mg


def test_nested_round_trip_keeps_kinds_and_dtypes(tmp_path: Path) -> None:
    state = {
        "model": {
            "w": mg.Tensor(np.arange(6, dtype=np.float32).reshape(2, 3), requires_grad=True),
            "b": np.array([1, 2], dtype=np.int32),
            "empty": {},
        },
        "step": 7,
        "lr": 0.25,
        "done": False,
        "name": "run-1",
        "betas": (0.9, 0.999),
        "scalar": np.float32(1.5),
    }
    path = tmp_path / "state.npz"
    mg.save(state, path)
    loaded = mg.load(path)
    assert set(loaded) == set(state)
    w = loaded["model"]["w"]
    assert isinstance(w, mg.Tensor) and w.requires_grad and w.dtype == np.float32
    np.testing.assert_array_equal(w.data, state["model"]["w"].data)
    assert loaded["model"]["b"].dtype == np.int32
    assert loaded["model"]["empty"] == {}
    assert loaded["step"] == 7 and isinstance(loaded["step"], int)
    assert loaded["lr"] == 0.25 and loaded["done"] is False and loaded["name"] == "run-1"
    assert loaded["betas"] == (0.9, 0.999)
    assert loaded["scalar"] == 1.5


def test_the_file_is_a_plain_npz_without_pickles(tmp_path: Path) -> None:
    path = tmp_path / "exact-name"  # no suffix is added
    mg.save({"a": {"b": np.ones(2)}}, path)
    assert path.exists()
    with zipfile.ZipFile(path) as archive:
        assert sorted(archive.namelist()) == ["__minigrad_manifest__.npy", "a/b.npy"]
    with np.load(path, allow_pickle=False) as plain:
        np.testing.assert_array_equal(plain["a/b"], np.ones(2))


def test_module_state_dict_through_a_file(tmp_path: Path) -> None:
    source, target = mg.nn.MLP([3, 5, 2], rng=0), mg.nn.MLP([3, 5, 2], rng=1)
    mg.save(source.state_dict(), tmp_path / "model.npz")
    target.load_state_dict(mg.load(tmp_path / "model.npz"))
    for (name, a), (_, b) in zip(source.named_parameters(), target.named_parameters(), strict=True):
        np.testing.assert_array_equal(a.data, b.data, err_msg=name)


@pytest.mark.parametrize(
    ("value", "message"),
    [
        (np.array([object()]), "dtype object"),
        ([1, "a"], "list"),
        (lambda: 0, "function"),
    ],
)
def test_save_refuses_what_needs_pickle(tmp_path: Path, value: object, message: str) -> None:
    with pytest.raises(TypeError, match=message):
        mg.save({"x": value}, tmp_path / "bad.npz")


@pytest.mark.parametrize("key", ["", "a/b", 3])
def test_save_refuses_bad_keys(tmp_path: Path, key: object) -> None:
    with pytest.raises(ValueError, match="keys"):
        mg.save({key: np.ones(1)}, tmp_path / "bad.npz")  # type: ignore[dict-item]


def test_load_refuses_what_is_not_such_an_archive(tmp_path: Path) -> None:
    pickled = tmp_path / "model.pkl"
    pickled.write_bytes(pickle.dumps({"w": np.ones(2)}))
    text = tmp_path / "notes.txt"
    text.write_text("hello")
    single = tmp_path / "array.npy"
    np.save(single, np.ones(2))
    objects = tmp_path / "objects.npz"
    np.savez(objects, a=np.array([{"x": 1}], dtype=object))
    for path in (pickled, text, single, objects):
        with pytest.raises(ValueError, match=r"not a minigrad \.npz archive"):
            mg.load(path)
    with pytest.raises(FileNotFoundError):
        mg.load(tmp_path / "missing.npz")


def test_plain_npz_loads_as_a_flat_dict(tmp_path: Path) -> None:
    path = tmp_path / "plain.npz"
    np.savez(path, x=np.arange(3), y=np.eye(2))
    loaded = mg.load(path)
    assert sorted(loaded) == ["x", "y"]
    np.testing.assert_array_equal(loaded["y"], np.eye(2))
