"""A tiny LFDM with random weights and a tiny BERT, built offline (for `for_tests` and tests)."""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import TYPE_CHECKING

from adapters.lfdm.config import TINY, LFDMConfig

if TYPE_CHECKING:
    from transformers import BertModel, BertTokenizer

    from adapters.lfdm.pipeline import LFDMPipeline

#: Words of the conformance and demo prompts, so they tokenize to words, not [UNK].
_WORDS = (
    "a an the hand hands person moves pushes picks puts opens closes takes pours cuts washes "
    "block cup knife pan door lid right left up down to of from on in with and it"
).split()


def tiny_wordpiece_vocab(folder: str | Path) -> Path:
    """Write a ~80-entry WordPiece ``vocab.txt`` ([PAD] = 0 as BERT's) and return its path."""
    specials = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
    letters = list("abcdefghijklmnopqrstuvwxyz")
    path = Path(folder) / "vocab.txt"
    path.write_text("\n".join(specials + _WORDS + letters + [f"##{c}" for c in letters]) + "\n")
    return path


def tiny_bert(hidden_size: int = 32, seed: int = 0) -> tuple["BertModel", "BertTokenizer"]:
    """A one-layer BERT of width ``hidden_size`` (random, seeded) and a WordPiece tokenizer over `tiny_wordpiece_vocab`."""
    import torch
    from transformers import BertConfig, BertModel, BertTokenizer

    with tempfile.TemporaryDirectory() as tmp:
        tokenizer = BertTokenizer(vocab_file=str(tiny_wordpiece_vocab(tmp)), do_lower_case=False)
    config = BertConfig(vocab_size=len(tokenizer), hidden_size=hidden_size, num_hidden_layers=1, num_attention_heads=2,
                        intermediate_size=2 * hidden_size, max_position_embeddings=64)
    torch.manual_seed(seed)
    return BertModel(config, add_pooling_layer=False).eval(), tokenizer


def tiny_pipeline(config: LFDMConfig = TINY, seed: int = 0) -> "LFDMPipeline":
    """The tiny LFDM with seeded random weights and its tiny BERT set."""
    import torch

    from adapters.lfdm.pipeline import LFDMPipeline

    torch.manual_seed(seed)
    pipe = LFDMPipeline.from_config(config)
    pipe.text_encoder, pipe.tokenizer = tiny_bert(config.unet.text_dim, seed)
    return pipe
