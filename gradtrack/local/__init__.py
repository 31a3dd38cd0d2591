"""Train on your own machine with the same code you would send to a fine-tuning service.

This package lets you try custom losses and regularizers without a remote
service: :class:`LocalTrainingClient` implements the
:class:`gradtrack.custom_loss.TrainingClient` protocol over :class:`CharLM`,
a small character-level language model written with minigrad (or
:class:`TinyGPT`, a small decoder-only transformer), and
:class:`CharVocab` turns text into its tokens.

>>> from gradtrack.local import CharLM, CharVocab, LocalTrainingClient
>>> vocab = CharVocab.from_text("the cat sat")
>>> client = LocalTrainingClient(CharLM(len(vocab), context=4, hidden=16, rng=0))
>>> client.model.vocab_size
7
"""

from __future__ import annotations

from gradtrack.local.client import AdamParams, LocalTrainingClient
from gradtrack.local.gpt import TinyGPT
from gradtrack.local.model import CharLM
from gradtrack.local.vocab import CharVocab

__all__ = ["AdamParams", "CharLM", "CharVocab", "LocalTrainingClient", "TinyGPT"]
