"""Old entry point of the generation task writer, kept for its callers: see :mod:`harness.taskgen`.

``python -m harness.generate.taskgen`` regenerates every task folder, as
``python -m harness.taskgen`` does.
"""

from __future__ import annotations

from harness.naming import generation_task as task_name
from harness.taskgen import main, render_generation_tasks, write_generation_tasks

__all__ = ["main", "render_generation_tasks", "task_name", "write_generation_tasks"]

if __name__ == "__main__":
    raise SystemExit(main())
