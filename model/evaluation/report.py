"""Markdown for people: one run's evaluation (``eval.md``), and a table comparing several runs."""

from __future__ import annotations

from typing import Any

METRICS = (
    ("ncm_acc", "NCM acc"),
    ("ncm_acc_per_class", "NCM acc / class"),
    ("knn1_acc", "1-NN acc"),
    ("knn1_acc_per_class", "1-NN acc / class"),
    ("knn5_acc", "5-NN acc"),
    ("knn5_acc_per_class", "5-NN acc / class"),
    ("p_at_1", "P@1"),
    ("r_precision", "R-precision"),
    ("map_at_r", "MAP@R"),
    ("lfw_view2_acc", "LFW View 2 acc"),
    ("lfw_view2_std", "LFW View 2 std"),
    ("lfw_view2_auc", "LFW View 2 AUC"),
    ("lfw_view2_unseen_acc", "LFW View 2 acc, unseen people"),
    ("lfw_view2_unseen_std", "LFW View 2 std, unseen people"),
    ("lfw_devtest_acc", "LFW DevTest acc"),
    ("lfw62_knn1_acc", "LFW-62 1-NN acc (seed-0 split)"),
)


def pct(value: float) -> str:
    return f"{100 * value:.1f}"


def task_name(config: dict[str, Any], classes: int) -> str:
    if config["dataset"] == "lfw" and config.get("protocol") == "devtrain":
        return "LFW DevTrain -> DevTest"
    return f"{'LFW' if config['dataset'] == 'lfw' else 'TT100K'}-{classes}"


def objective(config: dict[str, Any]) -> str:
    """The loss a run trained with, in words: "contrastive loss", or a distilled run's teacher and weighted terms."""
    if not config.get("teacher"):
        return f"{config['loss']} loss"
    terms = [f"embedding ({config['distill_distance']}) x {config['distill_embedding']:g}", f"relation x {config['distill_relation']:g}"]
    if config.get("metric_weight"):
        terms.append(f"{config['loss']} loss x {config['metric_weight']:g}")
    return f"distilled from {config['teacher']}: " + ", ".join(terms)


def markdown_report(result: dict[str, Any]) -> str:
    config = result["config"]
    columns = ["model"] + list(result.get("baselines", {}))
    rows = [(key, label) for key, label in METRICS if key in result]
    lines = [
        f"# Evaluation of `{result['run']}`",
        "",
        f"{task_name(config, result['classes'])}: {objective(config)}; {config['backbone']}, dimension {config['dim']}, "
        f"input {config['image_size']}px, seed {config['seed']}; checkpoint `{result['checkpoint']}`"
        + (f" (epoch {result['best_epoch']} of {result['epochs']}, {result['train_minutes']:.1f} min of training)" if result.get("epochs") else
           " (not trained by us: the network as it starts, --epochs 0)" if "epochs" in result else "")
        + f". {result['train_images']} training and {result['test_images']} test images. Figures in percent.",
        "",
        "| metric | " + " | ".join(columns) + " |",
        "|---|" + "---:|" * len(columns),
    ]
    for key, label in rows:
        values = [result[key]] + [result["baselines"][b].get(key) for b in columns[1:]]
        lines.append(f"| {label} | " + " | ".join("" if v is None else pct(v) for v in values) + " |")
    if result.get("knn1_confusions"):
        lines += ["", "Most frequent 1-NN confusions:", "", "| true | predicted | count |", "|---|---|---:|"]
        lines += [f"| {c['true']} | {c['predicted']} | {c['count']} |" for c in result["knn1_confusions"]]
    return "\n".join(lines) + "\n"


def results_table(results: list[dict[str, Any]]) -> str:
    """One row per run: task, dimension, the headline metrics, the baselines' 1-NN, and the training time."""
    lines = [
        "| task | loss | backbone | dim | NCM | 1-NN | 1-NN / class | MAP@R | View 2 | 1-NN raw pixels | 1-NN PCA-whitened | train min |",
        "|---|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for r in results:
        c = r["config"]
        base = r.get("baselines", {})

        def get(d: dict[str, Any], key: str) -> str:
            return pct(d[key]) if key in d else "n/a"

        view2 = f"{pct(r['lfw_view2_acc'])} ± {pct(r['lfw_view2_std'])}" if "lfw_view2_acc" in r else "n/a"
        lines.append(
            f"| {task_name(c, r['classes'])} | {c['loss'] if not c.get('teacher') else 'distill ' + c['teacher']} | {c['backbone']} | {c['dim']} | {get(r, 'ncm_acc')} | "
            f"{get(r, 'knn1_acc')} | {get(r, 'knn1_acc_per_class')} | {get(r, 'map_at_r')} | {view2} | "
            f"{get(base.get('raw_pixels', {}), 'knn1_acc')} | {get(base.get('pca_whitened', {}), 'knn1_acc')} | "
            f"{r.get('train_minutes', float('nan')):.1f} |"
        )
    return "\n".join(lines) + "\n"
