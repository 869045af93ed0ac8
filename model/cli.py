"""Subcommands of ``doppelganger`` that belong to ``model``: ``data``, ``train`` and ``evaluate``.

Heavy modules are imported inside each command so that ``--help`` answers at once.
"""

from __future__ import annotations

import argparse

from model.commands import UserError, module_handler


def register(subparsers: argparse._SubParsersAction) -> None:
    _register_data(subparsers)
    _register_models(subparsers)
    _register_train(subparsers)
    _register_evaluate(subparsers)
    _register_report(subparsers)
    _register_compare(subparsers)
    _register_runs(subparsers)
    _register_visualize(subparsers)
    _register_retrieve(subparsers)
    _register_faces(subparsers)


def _register_data(subparsers: argparse._SubParsersAction) -> None:
    data = subparsers.add_parser("data", help="get and inspect the datasets", description="Get and inspect the datasets.")
    data_sub = data.add_subparsers(dest="data_command", metavar="ACTION", required=True)

    download = data_sub.add_parser(
        "download",
        help="download a dataset (LFW) with checksums",
        description=(
            "Download LFW (deep-funneled images and the official protocol files) into DEST, checking every "
            "file's checksum and writing atomically: an interrupted download leaves nothing half-extracted. "
            "Without internet it fails fast and says what to fetch by hand and where to put it."
        ),
    )
    download.add_argument("dataset", choices=["lfw"], help="the dataset to download")
    download.add_argument("--dest", type=str, default=None, help="target folder (default: $DOPPELGANGER_DATA_DIR/lfw)")
    download.add_argument("--base-url", default=None, help="mirror to download from (default: the official LFW site)")
    download.add_argument("--timeout", type=float, default=10.0, help="seconds to wait for the server to answer")
    download.set_defaults(func=_data_download)

    info = data_sub.add_parser(
        "info",
        help="count the classes and images of each task",
        description="Print the classes and images of LFW and TT100K under the data directory, per subset.",
    )
    info.set_defaults(func=_data_info)


def _data_download(args: argparse.Namespace) -> int:
    from pathlib import Path

    from model.data.download import DownloadError, download_lfw
    from model.settings import get_settings

    dest = Path(args.dest) if args.dest else get_settings().lfw_dir
    try:
        download_lfw(dest, base_url=args.base_url, timeout=args.timeout)
    except DownloadError as error:
        raise UserError(str(error)) from error
    print(f"LFW is ready in {dest}")
    return 0


def _register_models(subparsers: argparse._SubParsersAction) -> None:
    models = subparsers.add_parser(
        "models", help="get and check the pretrained face models",
        description="The pretrained face models we build on (Intel Open Model Zoo, OpenCV Zoo), in the weights folder "
                    "($DOPPELGANGER_WEIGHTS_DIR; ../shared/weights/faces when it exists).",
    )
    models_sub = models.add_subparsers(dest="models_command", metavar="ACTION", required=True)
    download = models_sub.add_parser(
        "download", help="download pretrained face models from their publishers, checking SHA-256",
        description="Download the files of the named models (default: all) that are missing or damaged, checking "
                    "every SHA-256 and moving files into place only once all passed: a failure leaves nothing "
                    "half-written. Without internet it says what to fetch by hand and where to put it.",
    )
    download.add_argument("names", nargs="*", help="models to download (default: every model); see `doppelganger models list`")
    download.add_argument("--dest", default=None, help="weights folder (default: $DOPPELGANGER_WEIGHTS_DIR)")
    download.add_argument("--base-url", default=None, help="a mirror laid out like the weights folder (default: each publisher)")
    download.add_argument("--timeout", type=float, default=10.0, help="seconds to wait for a server to answer")
    download.set_defaults(func=_models_download)
    listing = models_sub.add_parser("list", help="list the models and whether each is present and intact",
                                    description="List the pretrained models, their licence, and whether their files "
                                                "are in the weights folder with the right SHA-256.")
    listing.add_argument("--dest", default=None, help="weights folder (default: $DOPPELGANGER_WEIGHTS_DIR)")
    listing.set_defaults(func=_models_list)


def _models_download(args: argparse.Namespace) -> int:
    from pathlib import Path

    from model.data.download import DownloadError
    from model.pretrained import download_models, weights_dir

    dest = Path(args.dest) if args.dest else weights_dir()
    try:
        fetched = download_models(args.names or None, dest, base_url=args.base_url, timeout=args.timeout)
    except (DownloadError, ValueError) as error:
        raise UserError(str(error)) from error
    print(f"downloaded {len(fetched)} file(s) into {dest}" if fetched else f"every model is already in {dest}")
    return 0


def _models_list(args: argparse.Namespace) -> int:
    from pathlib import Path

    from model.pretrained import MODELS, WeightsUnavailableError, model_file, weights_dir

    dest = Path(args.dest) if args.dest else weights_dir()
    print(f"weights folder: {dest}")
    for name, model in MODELS.items():
        try:
            model_file(name, dest)
            state = "ok"
        except WeightsUnavailableError:
            state = "missing or damaged"
        print(f"  {name:<42} {state:<19} {model.licence:<17} {model.what}")
    return 0


def _data_info(args: argparse.Namespace) -> int:
    from model.data.lfw import DatasetMissingError, load_lfw
    from model.data.tt100k import load_tt100k
    from model.settings import get_settings

    settings = get_settings()
    print(f"data directory: {settings.data_dir.resolve()}")
    try:
        for n in (1, 10, 20):
            lfw = load_lfw(settings.lfw_dir, min_images=n)
            print(f"  lfw   min-images {n:>2}: {lfw.num_classes:>5} people, {len(lfw):>6} images")
    except DatasetMissingError as error:
        print(f"  lfw: {error}")
    try:
        for n in (1, 20, 100):
            train, test = load_tt100k(settings.tt100k_dir, min_images=n)
            print(f"  tt100k min-images {n:>3}: {train.num_classes:>4} classes, {len(train):>6} train, {len(test):>6} test")
    except DatasetMissingError as error:
        print(f"  tt100k: {error}")
    return 0


def _register_train(subparsers: argparse._SubParsersAction) -> None:
    from model.config import add_train_arguments

    train = subparsers.add_parser(
        "train",
        help="train an embedding (contrastive, triplet or CosFace loss)",
        description=(
            "Train an embedding network on LFW or TT100K. Flags override the values of --config. The run "
            "directory receives the config, the split, checkpoints, metrics.jsonl and TensorBoard scalars; "
            "--resume continues from its last checkpoint."
        ),
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    add_train_arguments(train)
    train.set_defaults(func=module_handler("model.train"))


def _register_evaluate(subparsers: argparse._SubParsersAction) -> None:
    evaluate = subparsers.add_parser(
        "evaluate",
        help="evaluate a run on its saved test split",
        description=(
            "Evaluate a training run on the test split saved with it: nearest class mean and k-NN accuracy, "
            "retrieval P@1, R-precision and MAP@R, LFW verification (View 2, DevTest), and the raw-pixel and "
            "whitened-PCA baselines. Writes RUN_DIR/eval.json and RUN_DIR/eval.md."
        ),
    )
    evaluate.add_argument("run_dir", help="a directory written by `doppelganger train`")
    evaluate.add_argument("--checkpoint", default="best", choices=["best", "last"], help="which checkpoint to evaluate")
    evaluate.add_argument("--no-baselines", action="store_true", help="skip the raw-pixel and PCA baselines")
    evaluate.set_defaults(func=module_handler("model.evaluate"))


def _register_report(subparsers: argparse._SubParsersAction) -> None:
    report = subparsers.add_parser(
        "report",
        help="print a Markdown table comparing evaluated runs",
        description="Print one Markdown table row per evaluated run (from RUN_DIR/eval.json), as in the README.",
    )
    report.add_argument("run_dirs", nargs="+", metavar="RUN_DIR", help="directories evaluated by `doppelganger evaluate`")
    report.set_defaults(func=_report)


def _report(args: argparse.Namespace) -> int:
    import json
    from pathlib import Path

    from model.evaluation.report import results_table

    results = []
    for run_dir in args.run_dirs:
        path = Path(run_dir) / "eval.json"
        if not path.exists():
            raise UserError(f"{path} does not exist; run `doppelganger evaluate {run_dir}` first")
        results.append(json.loads(path.read_text()))
    print(results_table(results), end="")
    return 0


def _register_visualize(subparsers: argparse._SubParsersAction) -> None:
    from model.visualization.visualize import add_visualize_arguments

    visualize = subparsers.add_parser(
        "visualize",
        help="draw a run's embedding in 2-D (PNG, interactive HTML, TensorBoard projector)",
        description=(
            "Draw the train and test embeddings of a run in 2-D, coloured by class: directly when the dimension "
            "is 2, through PCA and t-SNE otherwise. Writes PNG plots, an interactive HTML map (hover a point to "
            "see its image and name) and the TensorBoard projector files (tensorboard --logdir OUT/projector)."
        ),
    )
    add_visualize_arguments(visualize)
    visualize.set_defaults(func=module_handler("model.visualization.visualize"))


def _register_retrieve(subparsers: argparse._SubParsersAction) -> None:
    from model.retrieve import add_retrieve_arguments

    retrieve = subparsers.add_parser(
        "retrieve",
        help="print the k nearest gallery images of an image crop",
        description=(
            "Embed an image that is already a crop in the dataset's frame (an LFW 250x250 face, a sign crop) "
            "and print the k nearest images of the run's gallery with their distances; --sheet writes a "
            "contact sheet PNG of the query beside its matches. Exact search."
        ),
    )
    add_retrieve_arguments(retrieve)
    retrieve.set_defaults(func=module_handler("model.retrieve"))


def _register_compare(subparsers: argparse._SubParsersAction) -> None:
    from model.compare import add_compare_arguments

    compare = subparsers.add_parser(
        "compare",
        help="train and evaluate a grid of configurations, then write a results report",
        description=(
            "Train a grid of configurations (a TOML file: a [defaults] table and [[experiment]] tables whose list "
            "values expand into their product) one after the other, evaluate each, and write a Markdown report "
            "with tables, training curves, embedding pictures and sentences computed from the numbers. Finished "
            "runs (with an eval.json) are skipped and partial ones resumed, so the command can be run again after "
            "an interruption. Example: doppelganger compare --grid grids/comparison.toml --only 'lfw20-*-d64-*'"
        ),
    )
    add_compare_arguments(compare)
    compare.set_defaults(func=module_handler("model.compare"))


def _register_runs(subparsers: argparse._SubParsersAction) -> None:
    runs = subparsers.add_parser("runs", help="work with run directories: export their summaries",
                                 description="Work with run directories.")
    runs_sub = runs.add_subparsers(dest="runs_command", metavar="ACTION", required=True)
    export = runs_sub.add_parser(
        "export",
        help="write a small JSON summary of evaluated runs for the accuracy dashboard (commit it with the docs)",
        description=(
            "Write DIR/<run name>.json for each evaluated RUN_DIR: its config, its eval.json less the bulky parts "
            "(ROC curves thinned as the dashboard draws them, no local paths, no baseline curves) and its per-epoch "
            "metrics; no weights, a few kB. The accuracy dashboard shows these summaries beside the live runs "
            "(a live run of the same name wins), so a clone without the run directories still shows the "
            "comparison. `doppelganger compare` writes the summaries of its grid's runs itself; this command is for "
            "runs trained outside a grid. Example: doppelganger runs export runs/compare/face-head --report "
            "docs/performance.md"
        ),
    )
    export.add_argument("run_dirs", nargs="+", metavar="RUN_DIR", help="directories evaluated by `doppelganger evaluate`")
    export.add_argument("--to", default=None, metavar="DIR",
                        help="folder of the summaries (default: $DOPPELGANGER_SUMMARIES_DIR, docs/results/runs)")
    export.add_argument("--report", default=None, metavar="PATH",
                        help="the document the runs belong to (e.g. docs/performance.md), recorded in each summary "
                             "so that the dashboard can say where they come from")
    export.set_defaults(func=_runs_export)


def _runs_export(args: argparse.Namespace) -> int:
    from model.run_summary import export_main

    try:
        export_main(args)
    except (FileNotFoundError, ValueError) as error:
        raise UserError(str(error)) from error
    return 0


def _register_faces(subparsers: argparse._SubParsersAction) -> None:
    faces = subparsers.add_parser(
        "faces", help="calibrate and check the photo -> LFW frame alignment", description="Face detection and alignment."
    )
    faces_sub = faces.add_subparsers(dest="faces_command", metavar="ACTION", required=True)
    calibrate = faces_sub.add_parser(
        "calibrate",
        help="learn where MTCNN's landmarks sit in LFW's 250x250 frame",
        description=(
            "Run MTCNN on a seeded sample of LFW deep-funneled images (one per person) and write the median "
            "position and spread of the five landmarks and of the box: the template uploads are aligned to."
        ),
    )
    calibrate.add_argument("--sample", type=int, default=1000, help="LFW people to sample, one image each (default: 1000)")
    calibrate.add_argument("--seed", type=int, default=0, help="seed of the sample (default: 0)")
    calibrate.add_argument("--out", default=None, help="template JSON to write (default: model/faces/lfw_template.json)")
    calibrate.add_argument("--threads", type=int, default=1, help="CPU threads for MTCNN (default: 1)")
    calibrate.set_defaults(func=module_handler("model.faces.lfw_template"))
    check = faces_sub.add_parser(
        "check",
        help="measure how close aligned crops come to LFW's own frames",
        description=(
            "On LFW people the calibration did not use: align each 250x250 image itself, and the same image "
            "pasted scaled, rotated and shifted into a larger canvas, and compare the crops with the original "
            "(mean absolute pixel difference in the face box, landmark error in pixels)."
        ),
    )
    check.add_argument("--sample", type=int, default=200, help="held-out LFW people, one image each (default: 200)")
    check.add_argument("--template", default=None, help="template JSON (default: model/faces/lfw_template.json)")
    check.add_argument("--threads", type=int, default=1, help="CPU threads for MTCNN (default: 1)")
    check.set_defaults(func=module_handler("model.faces.check"))
