"""Surface metrics on small hand-checked data."""

from __future__ import annotations

import gzip

import pytest

from harness.errors import EmptyDataError
from harness.intrinsic import (
    compression_ratio,
    contamination,
    distinct_n,
    exact_duplicate_rate,
    near_duplicate_groups,
    near_duplicate_rate,
    unit_for_language,
)
from harness.intrinsic.duplicates import MinHasher, lsh_params, shingle_hashes

GERMAN = [
    "Der Hund läuft schnell",
    "Der Hund schläft",
]


def test_distinct_n_words_hand_counted():
    # unigrams: der hund läuft schnell der hund schläft -> 7 total; Der, Hund, läuft,
    # schnell, schläft -> 5 unique. bigrams: 3 + 2 = 5; "Der Hund" repeats -> 4.
    # trigrams: 2 + 1 = 3, all distinct.
    assert distinct_n(GERMAN) == {1: 5 / 7, 2: 4 / 5, 3: 1.0}


def test_distinct_n_japanese_uses_characters():
    assert unit_for_language("ja") == "char"
    assert unit_for_language("de") == "word"
    assert unit_for_language("zh") == "char"  # outside the grid: by code
    # 猫が好き / 猫が好き / 犬が好き: 12 chars, unique {猫,が,好,き,犬} = 5.
    # bigrams: 3 per text = 9; unique 猫が, が好, 好き, 犬が = 4.
    texts = ["猫が好き", "猫が 好き", "犬が好き"]
    assert distinct_n(texts, ns=(1, 2), language="ja") == {1: 5 / 12, 2: 4 / 9}
    # As whitespace words the repetition is invisible: 猫が好き, 猫が, 好き, 犬が好き.
    assert distinct_n(texts, ns=(1,), unit="word") == {1: 1.0}


def test_distinct_n_short_and_empty():
    assert distinct_n(["Hola"], ns=(2,))[2] != distinct_n(["Hola"], ns=(2,))[2]  # NaN
    with pytest.raises(EmptyDataError):
        distinct_n([])


def test_compression_ratio():
    texts = ["Der Hund läuft.", "El perro corre."]
    raw = "\n".join(texts).encode()
    want = len(raw) / len(gzip.compress(raw, compresslevel=9, mtime=0))
    assert compression_ratio(texts) == pytest.approx(want)
    repetitive = compression_ratio(["Sure! Here is the answer you asked for."] * 200)
    varied = compression_ratio([f"Row {i}: {i * 7919 % 10007} Hund {i**3}" for i in range(200)])
    assert repetitive > 3 * varied
    with pytest.raises(EmptyDataError):
        compression_ratio([""])


def test_exact_duplicates_after_normalisation():
    texts = ["Der Hund läuft.", "der  hund LÄUFT.", "Der Hund läuft!", "Ｄer Hund läuft."]
    # the fullwidth Ｄ is NFKC-equal to D: 3 of 4 normalise to one text, "!" differs.
    assert exact_duplicate_rate(texts) == pytest.approx(2 / 4)


def test_near_duplicates():
    base = "Die Katze sitzt auf der Matte und schaut den Vögeln im Garten zu, während es regnet."
    texts = [
        base,
        "Zwei plus zwei ist vier, und drei plus drei ist sechs.",
        base.replace("regnet", "regnete"),  # one edit: near duplicate of row 0
        base.upper(),  # equal after normalisation
        "El perro come pan con queso todos los días en la cocina.",
        "Zwei plus zwei ist vier, und drei plus drei ist sechs.",
    ]
    groups = near_duplicate_groups(texts)
    assert groups.tolist() == [0, 1, 0, 0, 4, 1]
    assert near_duplicate_rate(texts) == pytest.approx(3 / 6)
    assert near_duplicate_rate(texts, threshold=1.0) == pytest.approx(2 / 6)
    # Deterministic across calls (fixed seed, no Python string hashing).
    assert (
        MinHasher(seed=1).signatures(texts).tolist() == MinHasher(seed=1).signatures(texts).tolist()
    )


def test_minhash_estimates_jaccard():
    a = shingle_hashes("the quick brown fox jumps over the lazy dog near the river bank")
    b = shingle_hashes("the quick brown fox jumps over the lazy cat near the river bank")
    jaccard = len(set(a.tolist()) & set(b.tolist())) / len(set(a.tolist()) | set(b.tolist()))
    hasher = MinHasher(num_perm=512)
    est = (hasher.signature(a) == hasher.signature(b)).mean()
    assert est == pytest.approx(jaccard, abs=0.08)
    bands, rows = lsh_params(0.8, 128)
    assert bands * rows == 128 and (1 / bands) ** (1 / rows) <= 0.8


BENCH = [
    "Janet's ducks lay 16 eggs per day. She eats three for breakfast every morning "
    "and bakes muffins for her friends every day with four.",
    "A robe takes 2 bolts of blue fiber and half that much white fiber. How many bolts in total does it take?",
    "What is 2+2?",  # too short for a 13-gram
]


def test_contamination_words():
    rows = [
        # 13+ words copied, with different case and punctuation -> contaminated
        "Solve this: janet's ducks lay 16 eggs per day; she eats THREE for breakfast every morning!",
        # 12 words in common, not 13 -> clean
        "A robe takes 2 bolts of blue fiber and half that much silk.",
        "Der Hund läuft schnell über die Straße und bellt laut.",
    ]
    result = contamination(rows, BENCH)
    assert (result.n_contaminated, result.n_rows) == (1, 3)
    assert result.fraction == pytest.approx(1 / 3)
    assert (result.n_matched_items, result.n_items, result.n_items_too_short) == (1, 2, 1)
    assert (result.n, result.unit) == (13, "word")
    assert contamination(rows, BENCH, n=12).n_contaminated == 2


def test_contamination_japanese_characters():
    item = "ジャネットのアヒルは1日に16個の卵を産みます。彼女は毎朝3個を朝食に食べ、毎日4個を使って友達のためにマフィンを焼きます。"
    rows = [
        "問題：" + item[:55] + "…",  # 55 characters copied
        "猫が好きです。" * 10,
    ]
    result = contamination(rows, [item], language="ja")
    assert (result.unit, result.n) == ("char", 50)
    assert (result.n_contaminated, result.n_matched_items) == (1, 1)
    assert contamination(rows, [item], language="ja", n=60).n_contaminated == 0


def test_contamination_needs_rows():
    with pytest.raises(EmptyDataError):
        contamination([], BENCH)
