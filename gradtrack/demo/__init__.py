"""``gradtrack demo``: regularized custom-loss training of a small language model, tracked live.

This package lets you watch gradient tracking do its job on a real training
run that needs no download and no GPU: a character-level model learns a
bundled selection of Aesop's fables through
:func:`~gradtrack.custom_loss.forward_backward_custom`, with a base NLL loss
and a few regularizers, and every step records how large each term's
gradient is, what share of the update it drives, and whether it pulls with
or against the others.

* :mod:`gradtrack.demo.run` — the training run and its files
  (:func:`run_demo`, :class:`DemoConfig`);
* :mod:`gradtrack.demo.regularizers` — the ``--regularizers`` choices;
* :mod:`gradtrack.demo.table` — the end-of-run table;
* :mod:`gradtrack.demo.report` — ``report.png`` (needs matplotlib);
* :mod:`gradtrack.demo.data` — the bundled corpus;
* :mod:`gradtrack.demo.progress` — the progress bar (tqdm if installed).

>>> from gradtrack.demo import DemoConfig, parse_regularizers
>>> [spec.name for spec in parse_regularizers(DemoConfig().regularizers)]
['entropy', 'kl_divergence', 'l2_weight_decay']
"""

from __future__ import annotations

from gradtrack.demo.regularizers import parse_regularizers
from gradtrack.demo.run import DemoConfig, DemoResult, nll_loss, run_demo

__all__ = ["DemoConfig", "DemoResult", "nll_loss", "parse_regularizers", "run_demo"]
