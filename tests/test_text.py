"""HANDI's action text (paper §3): prompt expanders, the offline CLIP tokenizer, prompt embeddings."""

import logging
import subprocess
import sys
from pathlib import Path

import pytest

torch = pytest.importorskip("torch")
transformers = pytest.importorskip("transformers")

from handi.text import (  # noqa: E402
    DEFAULT_INSTRUCTION,
    PROMPT_EXPANDERS,
    clean_prompt,
    clip_bpe_tokenizer,
    encode_prompts,
    tiny_text_encoder,
)
from hcvg.errors import InputNotFoundError, InvalidInputError  # noqa: E402
from hcvg.registry import UnknownNameError  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent

# EPIC-style actions, punctuation, digits, case and spacing, non-Latin text, and two
# prompts longer than CLIP's 77 tokens.
PLAIN_PROMPTS = [
    "cut carrot",
    "open fridge",
    "pick up knife",
    "put down plate",
    "take cup from cupboard",
    "pour water into kettle",
    "stir the sauce with a wooden spoon",
    "Turn-on tap",
    "peel potato (small)",
    "close the drawer!!",
    "! !! !!!",
    "what's in the bag? it's mine, they'll see",
    "mix flour, eggs & milk",
    "slice 2 tomatoes, then 13 onions.",
    "put pan on hob; wait 5 min...",
    "café crème brûlée",
    "Grab   the   SPATULA\tnow",
    "日本語 テキスト",
    "wave 😀 hand",
    "cut carrot " * 40,
    "open the fridge door and take out the milk carton, then close it " * 6,
]
# Prompts that CLIP's ftfy / HTML cleaning changes.
DIRTY_PROMPTS = ["don’t spill “the” milk", "salt &amp; pepper", "add salt &amp;amp; stir"]


@pytest.fixture(scope="module")
def tokenizer():
    return clip_bpe_tokenizer()


@pytest.fixture(scope="module")
def open_clip():
    return pytest.importorskip("open_clip")


def _ids(tokenizer, prompts, max_length=77):
    return tokenizer(list(prompts), padding="max_length", max_length=max_length, truncation=True, return_tensors="pt").input_ids


# -- the CLIP tokenizer ------------------------------------------------------------------

def test_clip_tokenizer_has_clips_vocabulary_and_special_ids(tokenizer):
    assert len(tokenizer) == 49408
    assert (tokenizer.bos_token_id, tokenizer.eos_token_id, tokenizer.pad_token_id) == (49406, 49407, 0)
    assert tokenizer.model_max_length == 77
    assert tokenizer.convert_ids_to_tokens([0, 256, 320]) == ["!", "!</w>", "a</w>"]


def test_clip_tokenizer_ids_equal_open_clip_tokenize(tokenizer, open_clip):
    prompts = [*PLAIN_PROMPTS, *DIRTY_PROMPTS]
    expected = open_clip.tokenize(prompts)
    got = _ids(tokenizer, [clean_prompt(p) for p in prompts])
    for prompt, a, b in zip(prompts, got, expected):
        assert a.tolist() == b.tolist(), prompt


def test_clip_tokenizer_needs_no_cleaning_for_plain_prompts(tokenizer, open_clip):
    """Lower-casing, white space and "!" runs are the tokenizer's own (diffusers#4153 split "!!")."""
    assert _ids(tokenizer, PLAIN_PROMPTS).tolist() == open_clip.tokenize(PLAIN_PROMPTS).tolist()


def test_clean_prompt_is_what_makes_typographic_quotes_and_html_match(tokenizer, open_clip):
    raw = _ids(tokenizer, DIRTY_PROMPTS)
    expected = open_clip.tokenize(DIRTY_PROMPTS)
    assert all(a.tolist() != b.tolist() for a, b in zip(raw, expected))
    assert clean_prompt("don’t  spill &amp;amp; ") == "don't spill &"


def test_clip_tokenizer_bpe_equals_simple_tokenizer_encode(tokenizer, open_clip):
    simple = open_clip.SimpleTokenizer()
    for prompt in [*PLAIN_PROMPTS, *DIRTY_PROMPTS]:
        ours = tokenizer(clean_prompt(prompt), add_special_tokens=False, truncation=False).input_ids
        assert ours == simple.encode(prompt), prompt


def test_long_prompts_are_cut_to_max_length_keeping_eos(tokenizer, open_clip):
    ids = _ids(tokenizer, [PLAIN_PROMPTS[-1]])[0]
    assert len(ids) == 77 and ids[0] == 49406 and ids[-1] == 49407
    short = clip_bpe_tokenizer(max_length=32)
    assert short.model_max_length == 32
    assert _ids(short, PLAIN_PROMPTS, 32).tolist() == open_clip.tokenize(PLAIN_PROMPTS, context_length=32).tolist()


def test_clip_tokenizer_pads_with_the_token_asked_for(tokenizer):
    sd15 = clip_bpe_tokenizer(pad_token="<|endoftext|>")
    assert _ids(sd15, ["cut carrot"])[0, -1] == 49407
    assert _ids(tokenizer, ["cut carrot"])[0, -1] == 0
    with pytest.raises(InvalidInputError, match="not in CLIP's vocabulary"):
        clip_bpe_tokenizer(pad_token="<pad>")


def test_clip_tokenizer_is_built_without_importing_open_clip():
    program = (
        "import sys\nfrom handi.text import clip_bpe_tokenizer\n"
        "assert clip_bpe_tokenizer()('cut carrot').input_ids == [49406, 3032, 15435, 49407]\n"
        "print('open_clip' in sys.modules)\n"
    )
    proc = subprocess.run([sys.executable, "-c", program], cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert proc.stdout.split()[-1] == "False"


# -- prompt embeddings ---------------------------------------------------------------------

@pytest.fixture(scope="module")
def text_encoder():
    return tiny_text_encoder()


def test_tiny_text_encoder_matches_clips_vocabulary_and_context(text_encoder):
    config = text_encoder.config
    assert (config.vocab_size, config.max_position_embeddings) == (49408, 77)
    assert (config.hidden_size, config.num_hidden_layers) == (32, 2)
    assert isinstance(text_encoder, transformers.CLIPTextModel)


def test_tiny_text_encoder_is_seeded_and_leaves_the_global_rng_alone():
    torch.manual_seed(123)
    expected = torch.rand(3)
    torch.manual_seed(123)
    a, b, c = tiny_text_encoder(seed=0), tiny_text_encoder(seed=0), tiny_text_encoder(seed=1)
    assert torch.equal(torch.rand(3), expected)
    weights = [torch.cat([p.flatten() for p in model.parameters()]) for model in (a, b, c)]
    assert torch.equal(weights[0], weights[1])
    assert not torch.equal(weights[0], weights[2])


def test_encode_prompts_is_the_last_hidden_state_over_max_length_tokens(tokenizer, text_encoder):
    prompts = ["cut carrot", "open the fridge door", "pick up knife"]
    with torch.no_grad():
        embeds = encode_prompts(tokenizer, text_encoder, prompts)
        # The ModelScope / AnimateAnything recipe (models/pipeline_stage2.py, _encode_prompt).
        ids = tokenizer(prompts, padding="max_length", max_length=tokenizer.model_max_length, truncation=True, return_tensors="pt").input_ids
        expected = text_encoder(ids).last_hidden_state
    assert embeds.shape == (3, 77, 32) and embeds.dtype == torch.float32
    torch.testing.assert_close(embeds, expected, rtol=0, atol=0)


def test_encode_prompts_does_not_depend_on_the_rest_of_the_batch(tokenizer, text_encoder):
    with torch.no_grad():
        batch = encode_prompts(tokenizer, text_encoder, ["cut carrot", "open the fridge door and take out the milk"])
        alone = encode_prompts(tokenizer, text_encoder, ["open the fridge door and take out the milk"])
    torch.testing.assert_close(batch[1], alone[0], rtol=1e-5, atol=1e-6)


def test_encode_prompts_cleans_like_clip(tokenizer, text_encoder):
    with torch.no_grad():
        dirty = encode_prompts(tokenizer, text_encoder, ["don’t spill   &amp; STIR"])
        clean = encode_prompts(tokenizer, text_encoder, ["don't spill & stir"])
    torch.testing.assert_close(dirty, clean, rtol=0, atol=0)


def test_encode_prompts_warns_about_truncated_prompts(tokenizer, text_encoder, caplog):
    with caplog.at_level(logging.WARNING, logger="handi.text"), torch.no_grad():
        embeds = encode_prompts(tokenizer, text_encoder, ["cut carrot", "cut carrot " * 50])
    assert embeds.shape == (2, 77, 32)
    assert "1 prompt(s) cut to the text encoder's 77 tokens" in caplog.text


def test_encode_prompts_passes_the_attention_mask_only_when_the_encoder_asks(tokenizer):
    encoder = tiny_text_encoder()
    with torch.no_grad():
        plain = encode_prompts(tokenizer, encoder, ["cut carrot"])
        encoder.config.use_attention_mask = True
        masked = encode_prompts(tokenizer, encoder, ["cut carrot"])
    length = len(tokenizer("cut carrot").input_ids)
    torch.testing.assert_close(plain[:, :length], masked[:, :length])  # causal: real tokens never see the padding
    assert not torch.allclose(plain[:, length:], masked[:, length:])


def test_a_single_string_is_refused(tokenizer, text_encoder):
    with pytest.raises(TypeError, match=r"wrap it: \['cut carrot'\]"):
        encode_prompts(tokenizer, text_encoder, "cut carrot")
    with pytest.raises(TypeError):
        PROMPT_EXPANDERS.create("identity").expand("cut carrot")


# -- prompt expanders ----------------------------------------------------------------------

def test_expander_registry_lists_identity_and_the_causal_lm():
    assert PROMPT_EXPANDERS.names() == ["hf-causal-lm", "identity"]
    assert PROMPT_EXPANDERS.create("identity").expand(["cut carrot", "open fridge"]) == ["cut carrot", "open fridge"]
    with pytest.raises(UnknownNameError, match="hf-causal-lm"):
        PROMPT_EXPANDERS.get("hf-causal-llm")


WORDS = (
    "describe in one sentence how the hands perform this action an egocentric video naming objects they touch "
    "cut carrot open fridge knife board left right hand holds slowly with a the on of and"
).split()


def _save_tiny_causal_lm(folder: Path, kind: str, zero_head: bool = False) -> Path:
    """A random GPT-2 or Llama of a few thousand weights, with a word-level tokenizer built here."""
    from tokenizers import Tokenizer, models, normalizers, pre_tokenizers

    vocab = {"<eos>": 0, "<unk>": 1}  # EOS first: an all-zero LM head then always ends at once
    for word in [*WORDS, ".", ",", ":"]:
        vocab.setdefault(word, len(vocab))
    backend = Tokenizer(models.WordLevel(vocab, unk_token="<unk>"))
    backend.normalizer = normalizers.Lowercase()
    backend.pre_tokenizer = pre_tokenizers.Whitespace()
    tokenizer = transformers.PreTrainedTokenizerFast(tokenizer_object=backend, unk_token="<unk>", eos_token="<eos>")
    torch.manual_seed(1)  # a seed whose greedy continuations do not end at once
    if kind == "gpt2":
        config = transformers.GPT2Config(vocab_size=len(vocab), n_embd=16, n_layer=2, n_head=2, n_positions=128, bos_token_id=0, eos_token_id=0)
        model = transformers.GPT2LMHeadModel(config)
    else:
        config = transformers.LlamaConfig(
            vocab_size=len(vocab), hidden_size=16, intermediate_size=32, num_hidden_layers=2, num_attention_heads=2,
            num_key_value_heads=1, max_position_embeddings=128, bos_token_id=0, eos_token_id=0, pad_token_id=0,
        )
        model = transformers.LlamaForCausalLM(config)
    if zero_head:
        with torch.no_grad():
            model.lm_head.weight.zero_()
    model.save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    return folder


def _greedy_reference(folder: Path, text: str, max_new_tokens: int) -> str:
    """Greedy decoding written out: the argmax token, one step at a time, until EOS."""
    tokenizer = transformers.AutoTokenizer.from_pretrained(folder)
    model = transformers.AutoModelForCausalLM.from_pretrained(folder).eval()
    ids = tokenizer(text, return_tensors="pt").input_ids
    start = ids.shape[1]
    with torch.no_grad():
        for _ in range(max_new_tokens):
            token = model(ids).logits[0, -1].argmax()
            if token == tokenizer.eos_token_id:
                break
            ids = torch.cat([ids, token.view(1, 1)], dim=1)
    return tokenizer.decode(ids[0, start:], skip_special_tokens=True).strip()


@pytest.mark.parametrize("kind", ["gpt2", "llama"])
def test_causal_lm_expander_decodes_greedily_from_the_template(tmp_path, kind):
    folder = _save_tiny_causal_lm(tmp_path / kind, kind)
    template = "Action: {prompt} . the hands"
    # Options arrive as CLI strings and are coerced by the registry.
    expander = PROMPT_EXPANDERS.create("hf-causal-lm", model=str(folder), template=template, max_new_tokens="6")
    prompts = ["cut carrot", "open fridge"]
    descriptions = expander.expand(prompts)
    assert descriptions == [_greedy_reference(folder, template.format(prompt=p), 6) for p in prompts]
    assert all(descriptions)
    again = PROMPT_EXPANDERS.create("hf-causal-lm", model=str(folder), template=template, max_new_tokens=6)
    assert again.expand(prompts) == descriptions
    expander.close()


def test_causal_lm_expander_default_template_names_the_prompt(tmp_path):
    folder = _save_tiny_causal_lm(tmp_path / "gpt2", "gpt2")
    expander = PROMPT_EXPANDERS.create("hf-causal-lm", model=str(folder), max_new_tokens=4)
    assert expander.expand(["cut carrot"]) == [_greedy_reference(folder, DEFAULT_INSTRUCTION.format(prompt="cut carrot"), 4)]


def test_causal_lm_expander_refuses_an_empty_description(tmp_path):
    folder = _save_tiny_causal_lm(tmp_path / "llama", "llama", zero_head=True)
    expander = PROMPT_EXPANDERS.create("hf-causal-lm", model=str(folder), max_new_tokens=4)
    with pytest.raises(ValueError, match="expanded 'cut carrot' to an empty text"):
        expander.expand(["cut carrot"])


def test_causal_lm_expander_names_a_missing_model(tmp_path):
    with pytest.raises(InputNotFoundError, match=str(tmp_path / "no-such-model")):
        PROMPT_EXPANDERS.create("hf-causal-lm", model=str(tmp_path / "no-such-model"))
    with pytest.raises(InputNotFoundError, match=r"'no-org/no-such-lm' not found.*hub cache"):
        PROMPT_EXPANDERS.create("hf-causal-lm", model="no-org/no-such-lm")
    (tmp_path / "empty").mkdir()
    with pytest.raises(InputNotFoundError, match="no config.json"):
        PROMPT_EXPANDERS.create("hf-causal-lm", model=str(tmp_path / "empty"))


@pytest.mark.parametrize("template", ["Describe: {action}", "no field", "{prompt} and {prompt2}"])
def test_causal_lm_expander_template_must_have_one_prompt_field(tmp_path, template):
    with pytest.raises(InvalidInputError, match="exactly one field"):
        PROMPT_EXPANDERS.create("hf-causal-lm", model=str(tmp_path), template=template)
