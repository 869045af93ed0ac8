"""A grid of training configurations (``doppelganger compare --grid FILE``) and its runs.

The library half of ``model.compare``: parsing and expanding a grid file into ``TrainConfig`` objects, and
``Run``, one configuration of the grid with its run directory, which the report (``model.compare_report``) and
the accuracy dashboard read. Nothing heavy is imported at the top, so ``doppelganger --help`` stays fast.
"""

from __future__ import annotations

import fnmatch
import itertools
import json
import tomllib
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any

from model.config import TrainConfig

TASK_KEYS = ("dataset", "min_images", "protocol")
IGNORED_KEYS = ("threads", "device", "amp")
"""Settings that say where and how fast a run trains, not what it learns (a finished run is not rerun because
they differ, and runs saved before a setting existed are not reported as different)."""

FIELD_TYPES = {f.name: str(f.type) for f in fields(TrainConfig)}
"""Every ``TrainConfig`` key and its annotated type, as a string (``"int"``, ``"float | None"``)."""


def _check_value(key: str, value: Any, where: str) -> Any:
    """The value, converted where TOML's types allow (an int for a float); a ValueError naming it otherwise."""
    kind = FIELD_TYPES[key].replace(" | None", "")
    if kind == "bool":
        ok = isinstance(value, bool)
    elif kind == "int":
        ok = isinstance(value, int) and not isinstance(value, bool)
    elif kind.startswith("float"):
        ok = isinstance(value, (int, float)) and not isinstance(value, bool)
        value = float(value) if ok else value
    else:
        ok = isinstance(value, str)
    if not ok:
        raise ValueError(f"{where}: {key} = {value!r} should be {kind}")
    return value


def _check_keys(table: Any, where: str) -> dict[str, Any]:
    if not isinstance(table, dict):
        raise ValueError(f"{where} should be a table of TrainConfig keys")
    unknown = [key for key in table if key not in FIELD_TYPES]
    if unknown:
        raise ValueError(
            f"{where}: unknown key{'s' if len(unknown) > 1 else ''} {', '.join(repr(k) for k in unknown)} "
            f"(known: {', '.join(FIELD_TYPES)})"
        )
    return table


def expand_grid(grid: dict[str, Any]) -> list[TrainConfig]:
    """Every run of a parsed grid, in order: experiment by experiment, the product of its lists."""
    extra = [key for key in grid if key not in ("defaults", "experiment")]
    if extra:
        raise ValueError(f"unknown table{'s' if len(extra) > 1 else ''} {', '.join(repr(k) for k in extra)}: "
                         "a grid has a [defaults] table and [[experiment]] tables")
    defaults = _check_keys(grid.get("defaults", {}), "[defaults]")
    experiments = grid.get("experiment")
    if not isinstance(experiments, list) or not experiments:
        raise ValueError("the grid has no [[experiment]] table")
    configs: list[TrainConfig] = []
    origin: dict[str, list[int]] = {}
    for number, experiment in enumerate(experiments, 1):
        where = f"experiment {number}"
        merged = {**defaults, **_check_keys(experiment, where)}
        lists = [key for key, value in merged.items() if isinstance(value, list)]
        for key in lists:
            if not merged[key]:
                raise ValueError(f"{where}: {key} is an empty list")
        for combination in itertools.product(*(merged[key] for key in lists)):
            values = {**merged, **dict(zip(lists, combination))}
            values = {key: _check_value(key, value, where) for key, value in values.items()}
            try:
                config = TrainConfig.from_dict(values)
            except ValueError as error:
                chosen = ", ".join(f"{k} {v}" for k, v in zip(lists, combination))
                raise ValueError(f"{where}{f' ({chosen})' if chosen else ''}: {error}") from error
            configs.append(config)
            origin.setdefault(config.default_run_name(), []).append(number)
    duplicates = {name: numbers for name, numbers in origin.items() if len(numbers) > 1}
    if duplicates:
        listed = "; ".join(f"{name} (experiments {', '.join(map(str, n))})" for name, n in duplicates.items())
        raise ValueError(
            f"the grid makes the same run more than once: {listed}. A run's name, and so its directory, covers "
            "dataset, min_images, protocol, loss, miner (triplet only), the contrastive settings, backbone, dim, "
            "image_size, epochs, lr and seed; runs differing "
            "only in other settings would share it"
        )
    return configs


def load_grid(path: Path | str) -> list[TrainConfig]:
    path = Path(path)
    try:
        grid = tomllib.loads(path.read_text())
    except tomllib.TOMLDecodeError as error:
        raise ValueError(f"{path} is not valid TOML: {error}") from error
    try:
        return expand_grid(grid)
    except ValueError as error:
        raise ValueError(f"{path}: {error}") from error


# ----------------------------------------------------------------------------------------------- the runs


@dataclass
class Run:
    """One run of the grid: its config and what its run directory (``model.run.RunDir``) holds so far."""

    config: TrainConfig
    path: Path

    name = property(lambda self: self.path.name)

    @property
    def dir(self):  # -> model.run.RunDir; imported here, as it brings torch, so that --help stays fast
        from model.run import RunDir

        return RunDir(self.path)

    eval_file = property(lambda self: self.dir.eval_json)
    config_file = property(lambda self: self.dir.config_file)

    def metrics(self) -> list[dict[str, Any]]:
        """The run's per-epoch records, one per epoch (``RunDir.metrics``)."""
        return self.dir.metrics()

    def differences(self) -> list[str]:
        """The settings in which the saved run differs from the grid's ("epochs 1 != 12"); empty if none."""
        if not self.config_file.exists():
            return []
        # A run saved before a setting existed trained with that setting's default, or its legacy value.
        values = json.loads(self.config_file.read_text())
        saved = {**TrainConfig(loss=values.get("loss", TrainConfig.loss)).to_dict(), **TrainConfig.from_saved(values).to_dict()}
        wanted = self.config.to_dict()
        return [f"{key} {saved.get(key)!r} != {value!r}" for key, value in wanted.items()
                if key not in IGNORED_KEYS and saved.get(key) != value]

    def status(self) -> str:
        if self.eval_file.exists():
            return "done"
        return "partial" if self.config_file.exists() else "to do"

    def result(self) -> dict[str, Any]:
        return json.loads(self.eval_file.read_text())


def plan_runs(configs: list[TrainConfig], runs_dir: Path) -> list[Run]:
    return [Run(config, runs_dir / config.default_run_name()) for config in configs]


def select_runs(runs: list[Run], patterns: list[str]) -> list[Run]:
    if not patterns:
        return runs
    chosen = [run for run in runs if any(fnmatch.fnmatchcase(run.name, p) for p in patterns)]
    if not chosen:
        raise ValueError(f"no run of the grid matches --only {' '.join(patterns)}; "
                         f"its runs are: {', '.join(run.name for run in runs)}")
    return chosen


def baseline_key(config: TrainConfig) -> tuple:
    """What the baselines depend on: the task, its split (seed) and the image size; not the model."""
    return (config.dataset, config.min_images, config.protocol, config.seed, config.image_size)


def format_duration(seconds: float) -> str:
    minutes = seconds / 60
    if minutes < 1:
        return f"{seconds:.0f} s"
    if minutes < 90:
        return f"{minutes:.0f} min"
    return f"{int(minutes // 60)} h {int(round(minutes % 60)):02d} min"
