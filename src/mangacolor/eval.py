"""mangacolor-eval: score a trained generator on a held-out folder against the grey baseline.

    mangacolor-eval ckpt_path=RUN/checkpoints/last.ckpt data.test_dir=/held-out [data.train_dir=/train]

Wiring only: Hydra composes conf/eval.yaml, mangacolor.evaluation does the work (see there for
what each metric means and what each output holds).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import hydra
from omegaconf import DictConfig, OmegaConf

from mangacolor.data.files import printable
from mangacolor.evaluation.baselines import mean_ab_of_folder
from mangacolor.evaluation.report import claim_output_folder, format_table, metrics_payload, summary_line, write_outputs
from mangacolor.evaluation.runner import evaluate_pages, list_pages
from mangacolor.evaluation.settings import build_settings
from mangacolor.inference import resolve_device, resolve_precision
from mangacolor.models.generator_io import load_generator
from mangacolor.resources import config_dir, register_resolvers


def evaluate(cfg: DictConfig) -> dict[str, Any]:
    """Evaluate as configured; writes the outputs into paths.run_dir and returns metrics.json's content."""
    ckpt_path, test_dir, run_dir = Path(cfg.ckpt_path), Path(cfg.data.test_dir), Path(cfg.paths.run_dir)
    claim_output_folder(run_dir)  # before any work: an earlier evaluation is never overwritten
    device = resolve_device(cfg.eval.device)
    # The precision group writes trainer.precision, as in training.
    precision = resolve_precision(OmegaConf.select(cfg, "trainer.precision", default="auto"), device)
    generator, generator_config = load_generator(ckpt_path)
    generator.to(device)
    settings = build_settings(cfg, ckpt_path, generator.multiple, str(device), precision)
    paths, unusable = list_pages(test_dir, settings.limit)

    baselines, mean_ab_report = {}, None
    if cfg.data.get("train_dir"):
        baselines["mean_ab"], mean_ab_report = mean_ab_of_folder(Path(cfg.data.train_dir), settings)
    result = evaluate_pages(generator, paths, settings, baselines)
    if not result.records:
        path, reason = result.skipped[0]
        raise RuntimeError(f"none of the {len(paths)} image files under {test_dir} could be read "
                           f"(e.g. {printable(path)}: {reason})")

    predictors = ["model", "grey", *baselines]
    payload = metrics_payload(result, unusable + result.skipped, predictors, ckpt_path, test_dir, settings,
                              generator_config, mean_ab_report)
    write_outputs(run_dir, payload, result, test_dir, settings.tensorboard)
    print(format_table(payload["overall"], predictors), flush=True)
    print(summary_line(payload, run_dir), flush=True)
    return payload


def main() -> None:
    register_resolvers()

    @hydra.main(config_path=str(config_dir()), config_name="eval", version_base="1.3")
    def _main(cfg: DictConfig) -> float:
        return evaluate(cfg)["overall"]["model"]["delta_e_2000"]  # for sweepers that optimise

    _main()


if __name__ == "__main__":
    main()
