"""Thin lm-eval hooks for the polyglot_eval tasks; the logic lives in harness.evaluate.

lm-eval resolves ``!function hooks.<name>`` next to the template that names it, so
these names are the only contract between the YAMLs and the package.
"""

from __future__ import annotations

import functools
from typing import Any

from harness.evaluate import mgsm, mrewardbench
from harness.evaluate.benchmarks import load_benchmark as _load_benchmark
from harness.evaluate.benchmarks import protocol_of, resolve_data_dir


def load(polyglot_benchmark: str, polyglot_config: str, **metadata: Any) -> Any:
    """lm-eval ``custom_dataset``: our dataset_kwargs name the data, metadata its place
    and the protocol.

    lm-eval calls this with the task's merged metadata (``--metadata`` JSON, the model
    args and the YAML's own ``metadata``) plus its ``dataset_kwargs``; it is the one
    hook that sees metadata, so protocol-dependent fields are written into the docs here.
    """
    prepare = None
    if polyglot_benchmark == "m_rewardbench":
        prepare = functools.partial(mrewardbench.assign_positions, protocol=protocol_of(metadata))
    return _load_benchmark(
        polyglot_benchmark,
        polyglot_config,
        data_dir=resolve_data_dir(metadata),
        prepare=prepare,
    )


mgsm_process_results = mgsm.process_results
mrewardbench_doc_to_text = mrewardbench.doc_to_text
mrewardbench_process_results = mrewardbench.process_results
weighted_accuracy = mrewardbench.aggregate
