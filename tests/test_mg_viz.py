"""mg.draw_graph: the drawing's structure, and the values and gradients it shows."""

from __future__ import annotations

import math

import numpy as np
import pytest

import minigrad as mg
from minigrad.viz import adjoints

pytest.importorskip("matplotlib")


def worked_example() -> tuple[dict[str, mg.Tensor], mg.Tensor]:
    a = mg.Tensor(0.7, requires_grad=True)
    b = mg.Tensor(-1.3, requires_grad=True)
    u = a * b + a
    t = mg.tanh(u)
    f = t * a
    return {"a": a, "b": b, "u": u, "t": t, "f": f}, f


def test_every_node_and_edge_of_the_worked_example() -> None:
    names, f = worked_example()
    drawing = mg.draw_graph(f, names=names)
    ops = sorted(n.label for n in drawing.nodes if n.kind == "op")
    assert ops == ["add", "mul", "mul", "tanh"]
    assert sum(n.kind == "tensor" for n in drawing.nodes) == 6  # a, b, a*b, u, t, f
    assert not any(n.kind == "constant" for n in drawing.nodes)
    # Each op: one edge out to its result, one in per input (mul 2, add 2, tanh 1, mul 2).
    assert len(drawing.edges) == 4 + 7
    assert ("a", "op:f") in drawing.edges and ("t", "op:f") in drawing.edges
    assert ("op:f", "f") in drawing.edges


def test_the_values_and_gradients_shown_are_the_true_ones() -> None:
    names, f = worked_example()
    drawing = mg.draw_graph(f, names=names)
    t_value = math.tanh(0.7 * -1.3 + 0.7)
    df_da = t_value + 0.7 * (1 - t_value**2) * (-1.3 + 1)
    df_db = 0.7 * (1 - t_value**2) * 0.7
    assert drawing.node("a").label == f"a ()\nvalue 0.7\ngrad {df_da:.4g}"
    assert drawing.node("b").label == f"b ()\nvalue -1.3\ngrad {df_db:.4g}"
    assert drawing.node("t").label == f"t ()\nvalue {t_value:.4g}\ngrad 0.7"  # df/dt = a
    assert drawing.node("f").label.endswith("grad 1")


def test_small_arrays_in_full_large_ones_summarised() -> None:
    small = mg.Tensor([1.0, -2.5, 3.0], requires_grad=True)
    large = mg.Tensor(np.arange(10.0), requires_grad=True)
    loss = (small * small).sum() + large.sum()
    drawing = mg.draw_graph(loss, names={"small": small, "large": large})
    assert "value [1, -2.5, 3]" in drawing.node("small").label
    assert "grad [2, -5, 6]" in drawing.node("small").label
    assert "value min 0 mean 4.5 max 9" in drawing.node("large").label
    assert "grad min 1 mean 1 max 1" in drawing.node("large").label
    assert drawing.node("small").label.startswith("small (3,)")


def test_constants_are_grey_and_optional() -> None:
    x = mg.Tensor([1.0, 2.0], requires_grad=True)
    data = np.array([3.0, 4.0])
    loss = (x * data).sum()
    with_constants = mg.draw_graph(loss)
    [constant] = [n for n in with_constants.nodes if n.kind == "constant"]
    assert constant.label == "(2,)\nvalue [3, 4]"  # no gradient line
    without = mg.draw_graph(loss, constants=False)
    assert not any(n.kind == "constant" for n in without.nodes)


def test_the_figure_shows_every_label_and_arrow() -> None:
    names, f = worked_example()
    drawing = mg.draw_graph(f, names=names)
    [ax] = drawing.figure.axes
    texts = [t.get_text() for t in ax.texts]
    for node in drawing.nodes:
        assert node.label in texts
    arrows = [t for t in ax.texts if t.get_text() == ""]  # annotations drawn as arrows
    assert len(arrows) == len(drawing.edges)
    assert drawing._repr_png_().startswith(b"\x89PNG")


def test_arrows_run_left_to_right() -> None:
    names, f = worked_example()
    drawing = mg.draw_graph(f, names=names)
    x = {n.key: n.position[0] for n in drawing.nodes}
    assert all(x[source] < x[target] for source, target in drawing.edges)


def test_drawing_writes_no_grad_and_keeps_the_graph() -> None:
    names, f = worked_example()
    mg.draw_graph(f, names=names)
    assert names["a"].grad is None
    expected = float(adjoints(f)[id(names["a"])])
    f.backward()  # the graph is still there
    assert float(names["a"].grad) == pytest.approx(expected)


def test_adjoints_match_backward_on_a_broadcasting_program() -> None:
    rng = np.random.default_rng(0)
    w = mg.Tensor(rng.standard_normal((3, 1)), requires_grad=True)
    v = mg.Tensor(rng.standard_normal(4), requires_grad=True)
    loss = mg.softplus(w * v).mean() + (w * w).sum()
    found = adjoints(loss)
    loss.backward()
    np.testing.assert_allclose(found[id(w)].numpy(), w.grad.numpy())
    np.testing.assert_allclose(found[id(v)].numpy(), v.grad.numpy())


def test_bad_input_is_named() -> None:
    x = mg.Tensor([1.0, 2.0], requires_grad=True)
    with pytest.raises(ValueError, match="scalar output"):
        mg.draw_graph(x * 2)
    assert len(mg.draw_graph(x * 2, gradients=False).nodes) == 4  # x, mul, 2, result
    with pytest.raises(ValueError, match="no recorded graph"):
        mg.draw_graph(mg.Tensor(1.0))
    with pytest.raises(TypeError, match="Tensor"):
        mg.draw_graph(np.ones(2))  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="max_elements"):
        mg.draw_graph((x * x).sum(), max_elements=0)
    with pytest.raises(KeyError, match="no node 'zz'"):
        mg.draw_graph((x * x).sum()).node("zz")
