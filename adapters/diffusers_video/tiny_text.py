"""Tokenizers for tiny test pipelines, built offline (the hub is closed to tests).

CLIP's real BPE vocabulary ships inside the ``open_clip_torch`` wheel
(`handi.text.clip_bpe_tokenizer` rebuilds the exact tokenizer from it); T5-style
tokenizers are built from a small in-memory unigram vocabulary, which transformers 5
accepts as ``T5Tokenizer(vocab=[(piece, score), ...])``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from transformers import CLIPTokenizer, T5Tokenizer

#: Words the conformance and demo prompts use, so they tokenize to words, not letters.
_WORDS = (
    "a an the hand hands person moves pushes picks puts opens closes takes pours cuts washes "
    "block cup knife pan door lid right left up down to of from on in with and it"
).split()


def tiny_t5_tokenizer() -> "T5Tokenizer":
    """A T5 (unigram) tokenizer of ~90 pieces: ``<pad>`` 0, ``</s>`` 1, ``<unk>`` 2, words, letters."""
    from transformers import T5Tokenizer

    vocab = [("<pad>", 0.0), ("</s>", 0.0), ("<unk>", 0.0)]
    vocab += [(f"\u2581{word}", -1.0 - i / 100) for i, word in enumerate(_WORDS)]
    vocab += [("\u2581", -5.0)] + [(letter, -10.0) for letter in "abcdefghijklmnopqrstuvwxyz"]
    return T5Tokenizer(vocab=vocab, extra_ids=0)


def clip_tokenizer(pad_token: str = "<|endoftext|>") -> "CLIPTokenizer":
    """CLIP's real BPE tokenizer, offline; Stable Diffusion 1.5's pads with ``<|endoftext|>``."""
    from handi.text import clip_bpe_tokenizer

    tokenizer = clip_bpe_tokenizer(pad_token=pad_token)
    del tokenizer.hcvg_offline_bpe  # these tiny pipelines are saved and reloaded with it
    return tokenizer
