"""The metric Space's app: paste (teacher, language, family, scores, metrics) cells, get PG."""

from __future__ import annotations

from pathlib import Path

import evaluate
import gradio as gr
import pandas as pd

HERE = Path(__file__).resolve().parent
metric = evaluate.load(str(HERE / "pg_score.py"))
COLUMNS = list(metric.features)
EXAMPLE = pd.DataFrame(
    {
        "teacher": ["t1", "t2", "t3"],
        "language": ["de"] * 3,
        "family": ["olmo3"] * 3,
        "student": [0.45, 0.35, 0.40],
        "base": [0.30] * 3,
        "reference": [0.50] * 3,
        "prompt_diversity": [0.5, 0.6, 0.7],
        "response_diversity": [0.5, 0.4, 0.6],
        "rubric_score": [3.0, 4.0, 5.0],
        "perplexity": [10.0, 12.0, 20.0],
    }
)[COLUMNS]


def compute(table: pd.DataFrame) -> pd.DataFrame:
    """Score the pasted cells; one output row per input row."""
    result = metric.compute(**{c: table[c].tolist() for c in COLUMNS})
    return pd.DataFrame({k: v for k, v in result.items() if isinstance(v, list)})


with gr.Blocks(title="PG-Score") as demo:
    gr.Markdown("# PG-Score\nOne row per (teacher, language, student family); see the card.")
    cells = gr.Dataframe(value=EXAMPLE, headers=COLUMNS, label="cells")
    button = gr.Button("Compute")
    scores = gr.Dataframe(label="PG-Score per cell")
    button.click(compute, cells, scores)

if __name__ == "__main__":
    demo.launch()
