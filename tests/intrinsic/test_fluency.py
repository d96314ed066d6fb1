"""Per-row perplexity against the model's own loss, one row at a time."""

from __future__ import annotations

import copy
import math

import pytest

from harness.intrinsic import perplexities, score_perplexities

PROMPTS = [
    "the cat sat on a mat",
    "der Hund",
    "日本語 の 文章",
    "el perro come pan con queso todos los días and the cat looked at birds in the garden",
    "rain",
]
RESPONSES = [
    " and looked at birds",
    " läuft schnell über die Straße der Hund läuft schnell über die Straße",
    " です 猫 が 好き",
    " while rain fell",
    " fell softly in the garden while the cat sat on a mat and looked at birds",
]


def reference_perplexity(model, tok, prompt: str, response: str, max_length: int = 10_000):
    """The model's own loss with prompt positions set to -100, one unpadded row."""
    import torch

    ids = tok(prompt + response)["input_ids"][:max_length]
    n_prompt = len(tok(prompt)["input_ids"])
    labels = list(ids)
    labels[:n_prompt] = [-100] * min(n_prompt, len(ids))
    with torch.no_grad():
        out = model(input_ids=torch.tensor([ids]), labels=torch.tensor([labels]))
    return math.exp(out.loss.item()), ids, n_prompt


def test_per_row_matches_model_loss(tiny_lm):
    model, tok = tiny_lm
    assert tok.pad_token is None  # the no-pad-token path is exercised
    got = perplexities(model, tok, PROMPTS, RESPONSES, batch_size=5, progress=False)
    want = [
        reference_perplexity(model, tok, p, r)[0] for p, r in zip(PROMPTS, RESPONSES, strict=True)
    ]
    assert got == pytest.approx(want, rel=1e-4)
    # Rows of different lengths really did share one padded batch.
    lengths = {len(tok(p + r)["input_ids"]) for p, r in zip(PROMPTS, RESPONSES, strict=True)}
    assert len(lengths) > 3


def test_batch_mean_would_differ(tiny_lm):
    """The paper's flaw: one batch-mean loss for every row gives other numbers."""
    import torch

    model, tok = tiny_lm
    got = perplexities(model, tok, PROMPTS, RESPONSES, batch_size=5, progress=False)
    total_nll = total_tokens = 0.0
    for p, r in zip(PROMPTS, RESPONSES, strict=True):
        ppl, ids, n_prompt = reference_perplexity(model, tok, p, r)
        count = len(ids) - max(n_prompt, 1)
        total_nll += math.log(ppl) * count
        total_tokens += count
    batch_mean = math.exp(total_nll / total_tokens)
    assert max(abs(v / batch_mean - 1) for v in got) > 0.05
    assert torch.tensor(got).std() > 0


def test_order_and_batching_do_not_change_values(tiny_lm):
    model, tok = tiny_lm
    bucketed = score_perplexities(model, tok, PROMPTS, RESPONSES, batch_size=2, progress=False)
    in_order = score_perplexities(
        model, tok, PROMPTS, RESPONSES, batch_size=2, progress=False, bucket=False
    )
    single = score_perplexities(model, tok, PROMPTS, RESPONSES, batch_size=1, progress=False)
    assert bucketed.values == pytest.approx(in_order.values, rel=1e-5)
    assert bucketed.values == pytest.approx(single.values, rel=1e-5)
    assert single.padded_tokens == 0
    assert bucketed.padded_tokens <= in_order.padded_tokens
    assert bucketed.tokens == in_order.tokens > 0


def test_empty_response_is_nan_and_counted(tiny_lm):
    model, tok = tiny_lm
    result = score_perplexities(
        model, tok, ["the cat", "der Hund", ""], ["", " läuft", ""], progress=False
    )
    assert math.isnan(result.values[0]) and math.isnan(result.values[2])
    assert not math.isnan(result.values[1])
    assert result.n_nan == 2
    assert result.mean == pytest.approx(result.values[1])


def test_empty_prompt_scores_from_second_token(tiny_lm):
    model, tok = tiny_lm
    got = perplexities(model, tok, [""], ["the cat sat on a mat"], progress=False)
    assert got == pytest.approx([reference_perplexity(model, tok, "", "the cat sat on a mat")[0]])


def test_truncation(tiny_lm):
    model, tok = tiny_lm
    long_prompt = "the cat sat on a mat " * 10
    n_prompt = len(tok(long_prompt)["input_ids"])
    prompts = ["der Hund", long_prompt]
    responses = [" läuft schnell über die Straße " * 30, " and looked at birds"]
    cut = n_prompt  # the second row loses its whole response
    result = score_perplexities(model, tok, prompts, responses, max_length=cut, progress=False)
    assert result.n_truncated == 2
    assert math.isnan(result.values[1])
    want = reference_perplexity(model, tok, prompts[0], responses[0], max_length=cut)[0]
    assert result.values[0] == pytest.approx(want, rel=1e-4)


def test_mismatched_lengths_raise(tiny_lm):
    model, tok = tiny_lm
    with pytest.raises(ValueError, match="prompts"):
        perplexities(model, tok, ["a"], [], progress=False)


def test_chat_template_mode(tiny_lm):
    """The user turn (with generation prompt) is the masked prefix."""
    model, tok = tiny_lm
    tok = copy.deepcopy(tok)  # do not leak the template into the session fixture
    tok.chat_template = (
        "{% for m in messages %}<{{ m['role'] }}>{{ m['content'] }}{% endfor %}"
        "{% if add_generation_prompt %}<assistant>{% endif %}"
    )
    result = score_perplexities(
        model, tok, ["the cat"], [" sat on a mat"], progress=False, chat_template=True
    )
    import torch

    prefix = tok("<user>the cat<assistant>")["input_ids"]
    ids = tok("<user>the cat<assistant> sat on a mat")["input_ids"]
    labels = [-100] * len(prefix) + ids[len(prefix) :]
    with torch.no_grad():
        loss = model(input_ids=torch.tensor([ids]), labels=torch.tensor([labels])).loss
    assert result.values[0] == pytest.approx(math.exp(loss.item()), rel=1e-4)
