"""Fluency under both protocols, checked against the model's own losses in plain torch.

``paper``: every row of a batch holds the batch's mean loss over the padded batch (pads
scored, prompt tokens masked), batches in input order. ``per_row_fluency``: each row's
own response-token losses, whatever the batching.
"""

from __future__ import annotations

import copy
import math

import pytest

from harness.errors import ConfigError
from harness.intrinsic import perplexities, score_perplexities

PER_ROW = "paper+per_row_fluency"

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


def test_per_row_fluency_matches_each_rows_own_model_loss(tiny_lm):
    model, tok = tiny_lm
    assert tok.pad_token is None  # the no-pad-token path is exercised
    got = perplexities(
        model, tok, PROMPTS, RESPONSES, batch_size=5, progress=False, protocol=PER_ROW
    )
    want = [
        reference_perplexity(model, tok, p, r)[0] for p, r in zip(PROMPTS, RESPONSES, strict=True)
    ]
    assert got == pytest.approx(want, rel=1e-4)
    # Rows of different lengths really did share one padded batch.
    lengths = {len(tok(p + r)["input_ids"]) for p, r in zip(PROMPTS, RESPONSES, strict=True)}
    assert len(lengths) > 3


def test_per_row_fluency_does_not_depend_on_order_or_batching(tiny_lm):
    model, tok = tiny_lm
    kw = {"progress": False, "protocol": PER_ROW}
    bucketed = score_perplexities(model, tok, PROMPTS, RESPONSES, batch_size=2, **kw)
    in_order = score_perplexities(model, tok, PROMPTS, RESPONSES, batch_size=2, bucket=False, **kw)
    single = score_perplexities(model, tok, PROMPTS, RESPONSES, batch_size=1, **kw)
    assert bucketed.values == pytest.approx(in_order.values, rel=1e-5)
    assert bucketed.values == pytest.approx(single.values, rel=1e-5)
    assert single.padded_tokens == 0
    assert bucketed.padded_tokens <= in_order.padded_tokens
    assert bucketed.tokens == in_order.tokens > 0


def test_per_row_empty_response_is_nan_and_counted(tiny_lm):
    model, tok = tiny_lm
    result = score_perplexities(
        model,
        tok,
        ["the cat", "der Hund", ""],
        ["", " läuft", ""],
        progress=False,
        protocol=PER_ROW,
    )
    assert math.isnan(result.values[0]) and math.isnan(result.values[2])
    assert not math.isnan(result.values[1])
    assert result.n_nan == 2
    assert result.mean == pytest.approx(result.values[1])


def test_per_row_empty_prompt_scores_from_second_token(tiny_lm):
    model, tok = tiny_lm
    got = perplexities(model, tok, [""], ["the cat sat on a mat"], progress=False, protocol=PER_ROW)
    assert got == pytest.approx([reference_perplexity(model, tok, "", "the cat sat on a mat")[0]])


def test_per_row_truncation(tiny_lm):
    model, tok = tiny_lm
    long_prompt = " ".join(["the cat sat on a mat"] * 10)  # no trailing space (see below)
    n_prompt = len(tok(long_prompt)["input_ids"])
    prompts = ["der Hund", long_prompt]
    responses = [" läuft schnell über die Straße " * 30, " and looked at birds"]
    cut = n_prompt  # the second row loses its whole response
    result = score_perplexities(
        model, tok, prompts, responses, max_length=cut, progress=False, protocol=PER_ROW
    )
    assert result.n_truncated == 2
    assert math.isnan(result.values[1])
    want = reference_perplexity(model, tok, prompts[0], responses[0], max_length=cut)[0]
    assert result.values[0] == pytest.approx(want, rel=1e-4)


def test_mismatched_lengths_raise(tiny_lm):
    model, tok = tiny_lm
    with pytest.raises(ValueError, match="prompts"):
        perplexities(model, tok, ["a"], [], progress=False)


def test_per_row_chat_template_mode(tiny_lm):
    """The user turn (with generation prompt) is the masked prefix."""
    model, tok = tiny_lm
    tok = copy.deepcopy(tok)  # do not leak the template into the session fixture
    tok.chat_template = (
        "{% for m in messages %}<{{ m['role'] }}>{{ m['content'] }}{% endfor %}"
        "{% if add_generation_prompt %}<assistant>{% endif %}"
    )
    result = score_perplexities(
        model, tok, ["the cat"], [" sat on a mat"], progress=False, chat_template=True,
        protocol=PER_ROW,
    )  # fmt: skip
    import torch

    prefix = tok("<user>the cat<assistant>")["input_ids"]
    ids = tok("<user>the cat<assistant> sat on a mat")["input_ids"]
    labels = [-100] * len(prefix) + ids[len(prefix) :]
    with torch.no_grad():
        loss = model(input_ids=torch.tensor([ids]), labels=torch.tensor([labels])).loss
    assert result.values[0] == pytest.approx(math.exp(loss.item()), rel=1e-4)


# --- the paper's batch mean ------------------------------------------------------------


def padded_batch_perplexity(model, tok, prompts, responses) -> tuple[float, float]:
    """The paper's batch value from plain torch: one mean NLL over a right-padded batch.

    Returns ``(pads scored, pads left out)``. The tokenizer has no pad token, so EOS pads
    (the id the paper's scripts fall back to). Every position whose label is not a prompt
    token counts; the second value drops the pad positions, to show they matter.
    """
    import torch

    ids = [tok(p + r)["input_ids"] for p, r in zip(prompts, responses, strict=True)]
    n_prompt = [len(tok(p)["input_ids"]) for p in prompts]
    width = max(len(x) for x in ids)
    pad = tok.eos_token_id
    input_ids = torch.tensor([x + [pad] * (width - len(x)) for x in ids])
    attention = torch.tensor([[1] * len(x) + [0] * (width - len(x)) for x in ids])
    with torch.no_grad():
        logits = model(input_ids=input_ids, attention_mask=attention).logits
    logprobs = torch.log_softmax(logits.float(), dim=-1)
    total = count = real_total = real_count = 0.0
    for b, row in enumerate(ids):
        for t in range(max(n_prompt[b], 1), width):  # label t is predicted at position t-1
            nll = -float(logprobs[b, t - 1, input_ids[b, t]])
            total, count = total + nll, count + 1
            if t < len(row):
                real_total, real_count = real_total + nll, real_count + 1
    return math.exp(total / count), math.exp(real_total / real_count)


def test_paper_fluency_gives_every_row_its_padded_batchs_mean_loss(tiny_lm):
    model, tok = tiny_lm
    lengths = [len(tok(p + r)["input_ids"]) for p, r in zip(PROMPTS, RESPONSES, strict=True)]
    assert max(lengths) > 3 * min(lengths)  # very different lengths share the batch
    want, without_pads = padded_batch_perplexity(model, tok, PROMPTS, RESPONSES)
    assert abs(want / without_pads - 1) > 0.01  # the pads really do move the value

    paper = score_perplexities(model, tok, PROMPTS, RESPONSES, batch_size=5, progress=False)
    assert paper.batch_mean
    assert paper.values == pytest.approx([want] * 5, rel=1e-4)  # one shared value
    assert paper.mean == pytest.approx(want, rel=1e-4)
    # The default protocol is the paper's.
    assert perplexities(model, tok, PROMPTS, RESPONSES, batch_size=5, progress=False) == (
        pytest.approx(paper.values)
    )

    per_row = perplexities(
        model, tok, PROMPTS, RESPONSES, batch_size=5, progress=False, protocol=PER_ROW
    )
    assert len({round(v, 6) for v in per_row}) == 5  # the same batch, five values
    assert max(abs(v / want - 1) for v in per_row) > 0.05


def test_paper_fluency_batches_in_input_order(tiny_lm):
    """batch_size 2 over 5 rows: (0, 1), (2, 3), (4) share values, each its own batch's."""
    model, tok = tiny_lm
    got = perplexities(model, tok, PROMPTS, RESPONSES, batch_size=2, progress=False)
    for batch in ((0, 1), (2, 3), (4,)):
        want, _ = padded_batch_perplexity(
            model, tok, [PROMPTS[i] for i in batch], [RESPONSES[i] for i in batch]
        )
        assert [got[i] for i in batch] == pytest.approx([want] * len(batch), rel=1e-4)
    assert got[0] != pytest.approx(got[2], rel=1e-3)
    # Another batch size regroups the rows, so the paper's values change with it.
    other = perplexities(model, tok, PROMPTS, RESPONSES, batch_size=3, progress=False)
    assert other[2] != pytest.approx(got[2], rel=1e-3)


def test_paper_fluency_refuses_length_bucketing(tiny_lm):
    model, tok = tiny_lm
    with pytest.raises(ConfigError, match="bucketing regroups rows"):
        score_perplexities(model, tok, PROMPTS, RESPONSES, progress=False, bucket=True)
