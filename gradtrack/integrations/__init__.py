"""gradtrack inside real training runs: PyTorch loops and models, the Tinker SDK.

Each submodule needs its optional extra and is imported only when you ask
for it (``import gradtrack`` imports none of them):

* :mod:`gradtrack.integrations.torch` (extra ``torch``): ``backward`` for any
  PyTorch loop, data-parallel included, and ``TorchTrainingClient`` for
  :func:`~gradtrack.custom_loss.forward_backward_custom` on a causal LM.
* :mod:`gradtrack.integrations.tinker` (extra ``tinker``):
  ``TinkerTrainingClient`` over the Tinker SDK's training client.
"""
