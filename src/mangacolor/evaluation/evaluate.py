"""One evaluation from its checked settings (`EvalSettings.from_config`): check the inputs, claim
the output folder, score, report.

A failed evaluation gives its output folder back (the claim and any partial outputs are removed),
so the same command can simply be run again; a finished one keeps it, and is never overwritten.
"""

from __future__ import annotations

from typing import Any

import torch

from mangacolor.data.files import printable
from mangacolor.evaluation.baselines import mean_ab_of_folder
from mangacolor.evaluation.hint_report import format_hints_table, hints_payload, write_hint_outputs
from mangacolor.evaluation.page_loop import evaluate_pages, list_test_pages
from mangacolor.evaluation.report import (
    claim_output_folder,
    format_metrics_table,
    metrics_payload,
    release_output_folder,
    summary_line,
    write_outputs,
)
from mangacolor.evaluation.settings import EvalSettings, check_inputs
from mangacolor.inference.compose import check_compose
from mangacolor.inference.generator_file import load_generator, takes_hints
from mangacolor.inference.page_colorizer import generator_predicts
from mangacolor.runtime.config_errors import require


class NothingReadable(FileNotFoundError):
    """Every image file of the test folder failed to decode."""


def evaluate(settings: EvalSettings) -> dict[str, Any]:
    """Evaluate as `settings` say; writes the outputs into settings.run_dir and returns
    metrics.json's content."""
    check_inputs(
        settings
    )  # a wrong path is one clear error before any folder is claimed or model loaded
    run_dir = settings.run_dir
    claim_output_folder(run_dir)  # before any work: an earlier evaluation is never overwritten
    try:
        payload, predictors = _evaluate_in(settings)
    except BaseException:  # an interrupted or failed run leaves the folder free for a retry
        release_output_folder(run_dir)
        raise
    print(format_metrics_table(payload["overall"], predictors), flush=True)
    if "hints" in payload:
        print(format_hints_table(payload["hints"], settings.input_style), flush=True)
        print(
            f"hint sweep: {payload['hints']['pages']} pages x {len(settings.hints)} counts in "
            f"{payload['hints']['seconds']:.1f} s (whole evaluation {payload['seconds']:.1f} s)",
            flush=True,
        )
    print(summary_line(payload, run_dir), flush=True)
    return payload


def _evaluate_in(settings: EvalSettings) -> tuple[dict[str, Any], list[str]]:
    """The work, in the claimed folder; metrics.json, written last, marks it finished."""
    ckpt_path, test_dir = settings.ckpt_path, settings.test_dir
    generator, generator_config = load_generator(ckpt_path)
    generator.to(torch.device(settings.device))
    settings = settings.for_generator(generator.multiple, getattr(generator, "training_size", None))
    if (
        settings.mode == "page"
    ):  # before any page is read: ink and predicted need a full-colour generator
        check_compose(settings.compose, generator_predicts(generator), str(ckpt_path))
    require(
        not any(settings.hints or ()) or takes_hints(generator),
        f"eval.hints: {ckpt_path} takes no hints (trained without model.hints): "
        "sweep a hint model, "
        "or leave eval.hints null (or [0])",
    )
    paths, unlisted = list_test_pages(test_dir, settings.limit)

    baselines, mean_ab_report = {}, None
    if settings.train_dir is not None:
        baselines["mean_ab"], mean_ab_report = mean_ab_of_folder(settings.train_dir, settings)
    result = evaluate_pages(generator, paths, settings, baselines)
    if not result.records:
        path, reason = result.unreadable[0]
        raise NothingReadable(
            f"none of the {len(paths)} image files under {test_dir} could be read "
            f"(e.g. {printable(path)}: {reason})"
        )

    predictors = ["model", "grey", *(["bw"] if settings.input_style != "plain" else []), *baselines]
    if (
        settings.mode == "page"
    ):  # the same predictors at reading scale, where screentone reads as tone
        predictors += [f"{name}@reading" for name in predictors]
    payload = metrics_payload(
        result,
        unlisted + result.unreadable,
        predictors,
        ckpt_path,
        test_dir,
        settings,
        generator_config,
        mean_ab_report,
    )
    if result.sweep is not None:
        payload["hints"] = hints_payload(
            result.sweep, settings.bucket_tolerance, settings.input_style
        )
        write_hint_outputs(
            settings.run_dir,
            payload["hints"],
            result.sweep,
            test_dir,
            settings.input_style,
            settings.tensorboard,
        )
    write_outputs(settings.run_dir, payload, result, test_dir, settings.tensorboard)
    return payload, predictors
