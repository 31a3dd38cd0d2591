"""Train a small MLP with minigrad on a synthetic two-spiral problem.

Run it with ``python examples/train_mlp.py``. It checks the model's gradient
against finite differences first, then trains with Adam and prints the loss
and accuracy as they improve.
"""

from __future__ import annotations

import numpy as np

import minigrad as mg


def two_spirals(n: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """``n`` points on each of two interleaved spirals, with labels 0 and 1."""
    turns = np.sqrt(rng.uniform(0, 1, n)) * 3 * np.pi
    arm = np.stack([np.cos(turns) * turns, np.sin(turns) * turns], axis=1) / (3 * np.pi)
    points = np.concatenate([arm, -arm]) + rng.normal(0, 0.02, (2 * n, 2))
    labels = np.concatenate([np.zeros(n, dtype=np.int64), np.ones(n, dtype=np.int64)])
    return points.astype(np.float32), labels


def cross_entropy(logits: mg.Tensor, labels: np.ndarray) -> mg.Tensor:
    """Mean negative log-likelihood of the true labels."""
    picked = mg.log_softmax(logits, axis=1)[np.arange(len(labels)), labels]
    return -picked.mean()


def main() -> None:
    rng = np.random.default_rng(0)
    points, labels = two_spirals(200, rng)
    model = mg.nn.MLP([2, 64, 64, 2], activation="tanh", rng=rng)

    # The same model in float64, checked against central finite differences.
    first = model.layers[0]
    weight64 = first.weight.data.astype(np.float64)

    def loss_of_first_weight(w: mg.Tensor) -> mg.Tensor:
        hidden = mg.tanh(mg.matmul(points[:8].astype(np.float64), w) + first.bias.data)
        return (hidden**2).sum()

    mg.gradcheck(loss_of_first_weight, weight64)
    print("gradcheck of the first layer: passed")

    optimizer = mg.optim.Adam(model.parameters(), lr=0.01)
    for step in range(301):
        optimizer.zero_grad()
        logits = model(points)
        loss = cross_entropy(logits, labels)
        loss.backward()
        optimizer.step()
        if step % 50 == 0:
            accuracy = float(np.mean(np.argmax(logits.data, axis=1) == labels))
            print(f"step {step:3d}  loss {loss.item():.4f}  accuracy {accuracy:.1%}")


if __name__ == "__main__":
    main()
