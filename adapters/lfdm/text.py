"""LFDM's text condition: BERT-base-cased, mean of the last hidden states after [CLS].

Upstream (``DM/modules/text.py``) loads BERT through ``torch.hub`` at run time; the port
loads transformers' `BertModel` and `BertTokenizer` from a local folder (the
``bert-base-cased`` asset, or the text encoder saved beside fine-tuned weights) and
shares one copy per process between adapters (`adapters.shared_encoders`).
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import torch

if TYPE_CHECKING:
    from transformers import BertModel, BertTokenizer


def bert_embed(model: "BertModel", tokenizer: "BertTokenizer", prompts: list[str], eps: float = 1e-8) -> torch.Tensor:
    """Embed prompts as LFDM does: the masked mean of the last hidden states, [CLS] left out.

    NOTE: as upstream, the mask is ``token != 0`` (BERT's pad id) shifted by one with
    the states, so [SEP] is part of the mean.

    Args:
        model: BERT.
        tokenizer: Its tokenizer (pad id 0).
        prompts: B texts.
        eps: Added to the token count.

    Returns:
        float ``[B, hidden]`` on the model's device and dtype.
    """
    ids = tokenizer(list(prompts), add_special_tokens=True, padding=True, return_tensors="pt").input_ids
    device = next(model.parameters()).device
    ids = ids.to(device)
    mask = ids != 0
    with torch.no_grad():
        hidden = model(input_ids=ids, attention_mask=mask, output_hidden_states=True).hidden_states[-1]
    kept = mask[:, 1:, None].to(hidden.dtype)
    return (hidden[:, 1:] * kept).sum(dim=1) / (kept.sum(dim=1) + eps)


def load_bert(folder: str | Path, dtype: torch.dtype, device: torch.device) -> tuple["BertModel", "BertTokenizer"]:
    """BERT and its tokenizer from a local folder (``config.json``, weights, ``vocab.txt``), frozen, in eval mode."""
    from transformers import BertModel, BertTokenizer

    folder = Path(folder)
    model = BertModel.from_pretrained(folder, dtype=dtype, add_pooling_layer=False).to(device).eval().requires_grad_(False)
    tokenizer = BertTokenizer.from_pretrained(folder)
    return model, tokenizer
