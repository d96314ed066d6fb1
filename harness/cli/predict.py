"""``polyglot-harness predict``: a new teacher's PG from its intrinsic metrics alone."""

from __future__ import annotations

import argparse
import sys

from harness.cli.main import one_line_errors


def add_parser(subparsers: argparse._SubParsersAction) -> argparse.ArgumentParser:
    """Register ``predict``."""
    parser = subparsers.add_parser(
        "predict",
        help="predict a new teacher's PG-Score from its intrinsic metrics (no students trained)",
        description="Fits PG (or PGR) on the intrinsic metrics of a scored grid, reports its "
        "leave-one-teacher-out R^2 and interval coverage, and predicts the new teacher's "
        "score with a prediction interval; rows go to predicted.jsonl, marked predicted. "
        "Without --metrics it only cross-validates: how far the grid's own teachers can be "
        "predicted, nothing written.",
    )
    parser.add_argument(
        "--scores",
        default="scores",
        help="the scored grid: a grid folder, a scores folder or scores.jsonl (default: scores)",
    )
    parser.add_argument(
        "--intrinsic",
        default=None,
        help="the grid's intrinsic metrics (default: <grid>/metrics/summary.jsonl)",
    )
    parser.add_argument(
        "--metrics",
        default=None,
        help="the new teacher's intrinsic metrics: its summary.jsonl or metrics folder "
        "(omitted: cross-validate the grid only, predict nothing)",
    )
    parser.add_argument(
        "--target",
        choices=("pg", "pgr"),
        default="pg",
        help="what to fit: pg (PG-Score) or pgr (the honest one: PG's z half is a function "
        "of the inputs themselves); both CV R^2 are printed either way (default: pg)",
    )
    parser.add_argument(
        "--with-lengths",
        action="store_true",
        help="also use mean prompt and response length as features",
    )
    parser.add_argument(
        "--ridge", type=float, default=None,
        help="ridge penalty (default: the fit's own, 0: least squares)",
    )  # fmt: skip
    parser.add_argument(
        "--level", type=float, default=None,
        help="prediction interval level (default: the predictor's own, 0.95)",
    )  # fmt: skip
    parser.add_argument(
        "--out", default=None, help="predicted rows (default: predicted.jsonl beside scores.jsonl)"
    )
    parser.set_defaults(run=one_line_errors(run))
    return parser


def run(args: argparse.Namespace) -> int:
    """Fit, cross-validate, predict, write; one-line errors (exit 2)."""
    from pathlib import Path

    from harness.errors import ConfigError, EmptyDataError
    from harness.files import check_out_file
    from harness.score.inputs import read_intrinsic
    from harness.score.pgscore import read_scores
    from harness.score.predict import (
        LEVELS,
        PAPER_IN_SAMPLE_R2,
        PREDICTED_FILE,
        CVResult,
        Predictions,
        build_tables,
        grid_features,
        locate_grid,
        loto_cv,
        merge_predicted,
        predict_teachers,
        predicted_rows,
    )

    # only what was given: the fit's and the predictor's own defaults for the rest
    ridge = {} if args.ridge is None else {"ridge": args.ridge}
    level = {} if args.level is None else {"level": args.level}
    try:  # a HarnessError ends in one line via one_line_errors; so does an OSError here
        scores_file, summary = locate_grid(args.scores)
        out = Path(args.out) if args.out else scores_file.parent / PREDICTED_FILE
        if new_given := args.metrics is not None:
            check_out_file(out)  # a folder there fails now, not after the fit
        if args.intrinsic is None and summary is None:
            raise ConfigError(
                f"no intrinsic metrics found for the grid of {scores_file}; pass --intrinsic"
            )
        scores = read_scores(scores_file)
        grid = read_intrinsic(args.intrinsic or summary)
        # the columns the scorer's z used: a metric the grid never measured is left out
        features, left_out = grid_features(scores, grid, with_lengths=args.with_lengths)
        new = read_intrinsic(args.metrics) if args.metrics is not None else None
        predictions = (
            predict_teachers(
                scores,
                grid,
                new,
                target=args.target,
                features=features,
                **ridge,
                **level,
            )
            if new is not None
            else Predictions([])
        )
        cv: dict[str, dict[str, CVResult] | str] = {}
        for target in ("pg", "pgr"):
            try:
                tables = build_tables(scores, grid, target=target, features=features)
                levels = sorted({*LEVELS, args.level}) if args.level is not None else LEVELS
                cv[target] = {f: loto_cv(t, levels=levels, **ridge) for f, t in tables.items()}
            except (ConfigError, EmptyDataError) as exc:  # not an error: the report says why
                if new is None and target == args.target:  # ... unless the CV is all asked for
                    raise
                cv[target] = str(exc)
        if new_given:
            written = merge_predicted(out, predicted_rows(predictions.rows, scores))
    except OSError as exc:
        print(f"polyglot-harness predict: {exc}", file=sys.stderr)
        return 2
    families = sorted(
        {p.student_family for p in predictions.rows}
        or {f for result in cv.values() if not isinstance(result, str) for f in result}
    )
    for column, why in left_out.items():
        print(f"not a feature: {column} ({why}; the scorer's z leaves it out too)")
    for family in families:
        print(f"student family {family}: leave-one-teacher-out fit on {', '.join(features)}")
        for target in ("pgr", "pg"):
            result = cv[target]
            if isinstance(result, str):
                print(f"  {target}: not cross-validated ({result})")
                continue
            r = result[family]
            cover = ", ".join(
                f"{level:.0%} interval covers {share:.0%}" for level, share in r.coverage.items()
            )
            print(
                f"  {target}: CV R^2 = {r.r2:.3f} over {r.n_teachers} teachers / {r.n_rows} rows "
                f"(in-sample {r.in_sample_r2:.3f}; the paper's in-sample R^2 = {PAPER_IN_SAMPLE_R2}); "
                f"{cover} of held-out rows"
                + ("  [half of PG is z, a function of the inputs]" if target == "pg" else "")
            )  # fmt: skip
    if new is None:
        print("cross-validation only (no --metrics): nothing predicted, nothing written")
        return 0
    for p in predictions.rows:
        print(
            f"{p.teacher} {p.language} {p.student_family}: predicted {p.target} = {p.value:.3f} "
            f"[{p.lo:.3f}, {p.hi:.3f}] ({p.level:.0%} prediction interval)"
        )
    if predictions.skipped:
        skipped = ", ".join(predictions.skipped)
        print(f"not predicted (the family has no scored students there): {skipped}")
    print(f"wrote {len(predictions.rows)} predicted rows to {written}")
    return 0
