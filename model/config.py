"""What a training run can be told: the choices, the ``TrainConfig`` and its command-line flags.

This module imports nothing heavy, so ``doppelganger --help`` answers at once; the modules that implement each
choice (``model.data.tasks``, ``model.networks``, ``model.losses``) check their names against these tuples.
"""

from __future__ import annotations

import argparse
from dataclasses import asdict, dataclass, fields
from pathlib import PurePath
from typing import Any

DATASETS = ("lfw", "tt100k")
LFW_PROTOCOLS = ("closed", "devtrain")
BACKBONES = ("small_cnn", "mobilenet_v2", "vgg16", "face_reid_0095")
FACE_BACKBONES = ("face_reid_0095",)
"""Backbones pretrained on faces (``model.pretrained``); the others start from ImageNet weights or from scratch."""
HEADS = ("linear", "none")
"""What follows the backbone: a linear projection to ``dim``, or nothing (the backbone's own features)."""
LOSSES = ("contrastive", "triplet", "cosface")
MINERS = ("random", "batch-all", "batch-hard", "semi-hard", "multi-similarity")
"""Triplet miners (``--loss triplet`` only)."""
PAIRS = ("batch", "pk", "drawn")
"""Contrastive pairs: every pair of a batch of balanced drawn pairs, every pair of a P x K batch, or the drawn
pairs only."""
HINGES = ("squared", "plain")
"""Contrastive only: the hinge of each pair squared (Hadsell et al. 2006) or not (pytorch-metric-learning)."""
REDUCERS = ("mean", "nonzero")
"""Contrastive only: average each term over all its pairs, or over the pairs with a non-zero term."""
EXTRA_DATA = ("none", "celeba10k")
"""More people for the training part of ``--protocol devtrain``: CelebA-10k's (``model.data.celeba``)."""
DISTANCES = ("cosine", "l2")
"""Distillation only: the embedding regression's distance between the student's and the teacher's unit vectors."""
DEVICES = ("auto", "cpu", "cuda")
COLLAPSE_SPREAD = 0.01
"""Below this mean standard deviation per dimension an embedding has collapsed onto (nearly) one point."""
DEFAULT_MARGINS = {"contrastive": 1.0, "triplet": 0.2, "cosface": 0.35}
"""Each loss's margin when ``--margin`` is not given (distances between unit vectors; CosFace: in cosine)."""
# The contrastive defaults are the recipe of grids/contrastive.toml (docs/results-notes.md, "The contrastive loss"):
# every pair of a P x K batch, each term averaged over its pairs still inside a margin, and positives left alone
# within 0.3 took LFW-62 1-NN from 68.9% (balanced drawn pairs, plain mean, positives pulled to 0) to 89.4%.
LOSS_SETTINGS: dict[str, tuple[tuple[str, ...], Any]] = {
    "pairs": (("contrastive",), "pk"),
    "pos_margin": (("contrastive",), 0.3),
    "hinge": (("contrastive",), "squared"),
    "reducer": (("contrastive",), "nonzero"),
    "miner": (("triplet",), "semi-hard"),
    "soft_margin": (("triplet",), False),
    "miner_warmup": (("triplet",), 0),
    "scale": (("cosface",), 32.0),
    "images_per_class": (("triplet", "cosface", "contrastive"), 4),
}
"""The settings that only some losses use: those losses, and the value a run of them gets when it names none.
A setting is ``None`` in a run of any other loss, is refused when given to one, and is left out of its saved
config. ``images_per_class`` applies to the contrastive loss with ``pairs = "pk"`` only."""
LEGACY_VALUES = {"pairs": "batch", "pos_margin": 0.0, "hinge": "squared", "reducer": "mean"}
"""What runs saved before these settings existed trained with."""
OFF_VALUES = {"soft_margin": False, "miner_warmup": 0}
"""Values that switch a setting off, and so mean the same as not giving it, whatever the loss."""
DISTILL_SETTINGS: dict[str, Any] = {
    "distill_embedding": 1.0,
    "distill_relation": 1.0,
    "distill_distance": "cosine",
    "metric_weight": 0.0,
}
"""The settings of a distilled run (``--teacher``) and the value it gets when it names none: the weights of the
embedding regression, of the relational term and of the metric ``--loss``, and the regression's distance. Like
``LOSS_SETTINGS``, each is ``None`` in a run without a teacher, refused when given to one, and left out of its
saved config. With ``metric_weight`` 0 the metric loss is off, and its own settings are refused and left out too."""


@dataclass
class TrainConfig:
    """Every choice a training run makes. Defaults are the default model's."""

    dataset: str = "lfw"
    min_images: int = 20
    protocol: str = "closed"
    extra_data: str = "none"
    loss: str = "contrastive"
    margin: float | None = None
    pairs: str | None = None
    pos_margin: float | None = None
    hinge: str | None = None
    reducer: str | None = None
    miner: str | None = None
    soft_margin: bool | None = None
    miner_warmup: int | None = None
    images_per_class: int | None = None
    scale: float | None = None
    teacher: str | None = None
    distill_embedding: float | None = None
    distill_relation: float | None = None
    distill_distance: str | None = None
    metric_weight: float | None = None
    face_template: str | None = None
    backbone: str = "mobilenet_v2"
    pretrained: bool = True
    head: str = "linear"
    freeze_backbone: bool = False
    dim: int = 64
    image_size: int = 64
    epochs: int = 12
    batch_size: int = 64
    pairs_per_epoch: int = 2048
    lr: float = 1e-3
    weight_decay: float = 1e-4
    seed: int = 0
    threads: int = 0
    device: str = "auto"
    amp: bool = True

    def __post_init__(self) -> None:
        if self.loss not in LOSSES:
            raise ValueError(f"loss {self.loss!r} is not one of {', '.join(LOSSES)}")
        self._settle_distillation()
        self._settle_loss_settings()
        for name, allowed in (("device", DEVICES), ("dataset", DATASETS), ("protocol", LFW_PROTOCOLS), ("extra_data", EXTRA_DATA), ("backbone", BACKBONES), ("head", HEADS),
                              ("miner", MINERS), ("pairs", PAIRS), ("hinge", HINGES), ("reducer", REDUCERS),
                              ("distill_distance", DISTANCES), ("face_template", FACE_BACKBONES)):
            value = getattr(self, name)
            if value is not None and value not in allowed:
                raise ValueError(f"{name} {value!r} is not one of {', '.join(allowed)}")
        if self.pos_margin is not None and not 0 <= self.pos_margin < self.loss_margin:
            raise ValueError(f"--pos-margin must be at least 0 and below the margin {self.loss_margin}, got {self.pos_margin}")
        if self.dataset != "lfw" and self.protocol != "closed":
            raise ValueError("--protocol applies to LFW only")
        if self.extra_data != "none" and not (self.dataset == "lfw" and self.protocol == "devtrain"):
            raise ValueError("--extra-data adds training people to --dataset lfw --protocol devtrain only")
        if (self.miner_warmup or 0) < 0:
            raise ValueError(f"--miner-warmup is a number of epochs, 0 or more, got {self.miner_warmup}")
        if (self.teacher is not None or self.face_template is not None) and self.dataset != "lfw":
            raise ValueError("--teacher and --face-template are for faces: --dataset lfw only")
        if self.face_template is not None and self.backbone in FACE_BACKBONES:
            if self.face_template != self.backbone:
                raise ValueError(f"{self.backbone} sees faces aligned on its own template; leave --face-template out")
            self.face_template = None

    @property
    def uses_metric_loss(self) -> bool:
        """Whether the run trains with its metric ``--loss``: always without a teacher; with one, when
        ``metric_weight`` is above 0."""
        return self.teacher is None or bool(self.metric_weight)

    def _settle_distillation(self) -> None:
        """Without a teacher, refuse the distillation settings; with one, give those it names none their
        default, and align the faces on the teacher's template when it is a face backbone (a teacher run's
        template is read from its config by ``model.teacher``)."""
        if self.teacher is None:
            for name in DISTILL_SETTINGS:
                if getattr(self, name) is not None:
                    raise ValueError(f"--{name.replace('_', '-')} applies to distillation only: name a --teacher, or leave it out")
            return
        if not str(self.teacher).strip():
            raise ValueError("--teacher needs a run directory or a face backbone name")
        for name, default in DISTILL_SETTINGS.items():
            if getattr(self, name) is None:
                setattr(self, name, default)
        weights = {name: getattr(self, name) for name in ("distill_embedding", "distill_relation", "metric_weight")}
        if any(weight < 0 for weight in weights.values()) or not any(weights.values()):
            raise ValueError(f"the distillation weights must be 0 or more and not all 0, got {weights}")
        if self.teacher in FACE_BACKBONES and self.face_template is None and self.backbone not in FACE_BACKBONES:
            self.face_template = self.teacher
        if not self.uses_metric_loss:
            if self.loss != TrainConfig.loss or self.margin is not None:
                raise ValueError(f"--metric-weight 0 switches the metric loss off: leave --loss and --margin out, "
                                 f"or give the loss a weight above 0")

    def _settle_loss_settings(self) -> None:
        """Refuse a setting that this run's loss would ignore; give the ones it uses their default."""
        for name, (losses, default) in LOSS_SETTINGS.items():
            value = getattr(self, name)
            if name in OFF_VALUES and value == OFF_VALUES[name]:
                value = None
            uses = self.loss in losses and (name != "images_per_class" or self.loss != "contrastive" or self.pairs == "pk")
            if uses and self.uses_metric_loss:
                setattr(self, name, default if value is None else value)
                continue
            if value is not None:
                flag = "--" + name.replace("_", "-")
                if uses:
                    raise ValueError(f"{flag} sets the metric loss, which --metric-weight 0 switches off: leave it out, "
                                     "or give the loss a weight above 0")
                users = " or ".join(f"--loss {loss}" for loss in losses)
                if name == "images_per_class":
                    users = "--loss triplet, --loss cosface, or --loss contrastive with --pairs pk"
                raise ValueError(f"{flag} applies to {users} only; --loss {self.loss} does not use it, so leave it out")
            setattr(self, name, None)

    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> "TrainConfig":
        values = dict(values)
        if "k" in values and "images_per_class" not in values:  # runs saved before the field had its name
            values["images_per_class"] = values.pop("k")
        known = {f.name for f in fields(cls)}
        unknown = set(values) - known
        if unknown:
            raise ValueError(f"unknown config keys: {', '.join(sorted(unknown))}")
        return cls(**values)

    @classmethod
    def from_saved(cls, values: dict[str, Any]) -> "TrainConfig":
        """The config of a saved run. Runs saved before loss settings were refused recorded them all (a
        contrastive run's ``miner``): those its loss ignores are dropped; settings it predates get the value it
        trained with (``LEGACY_VALUES``)."""
        values = dict(values)
        loss = values.get("loss", cls.loss)
        metric = values.get("teacher") is None or bool(values.get("metric_weight", DISTILL_SETTINGS["metric_weight"]))
        if "k" in values and "images_per_class" not in values:
            values["images_per_class"] = values.pop("k")
        for name, (losses, _) in LOSS_SETTINGS.items():
            uses = metric and loss in losses and (name != "images_per_class" or loss != "contrastive" or values.get("pairs") == "pk")
            if not uses:
                values.pop(name, None)
            elif name in LEGACY_VALUES and name not in values:
                values[name] = LEGACY_VALUES[name]
        return cls.from_dict(values)

    def to_dict(self) -> dict[str, Any]:
        """Every setting of the run, less those its loss does not use."""
        return {key: value for key, value in asdict(self).items() if value is not None or key == "margin"}

    def _contrastive_name_parts(self) -> list[str]:
        """What a contrastive run's name says of settings that differ from the defaults (-pk, -pm0.2, ...)."""
        parts = []
        for name, text in (("pairs", "{}"), ("pos_margin", "pm{:g}"), ("hinge", "{}"), ("reducer", "{}")):
            value = getattr(self, name)
            if value != LOSS_SETTINGS[name][1]:
                parts.append("-" + text.format(value))
        if self.margin is not None and self.margin != DEFAULT_MARGINS["contrastive"]:
            parts.append(f"-m{self.margin:g}")
        return parts

    @property
    def loss_margin(self) -> float:
        return DEFAULT_MARGINS[self.loss] if self.margin is None else self.margin

    def default_run_name(self) -> str:
        subset = f"{self.min_images}" if self.protocol == "closed" else f"{self.protocol}{self.min_images}"
        subset += "" if self.extra_data == "none" else f"+{self.extra_data}"
        loss = self.loss
        if self.loss == "triplet":
            loss = f"triplet-{self.miner}{'-soft' if self.soft_margin else ''}"
            loss += f"-warm{self.miner_warmup}" if self.miner_warmup else ""
        if self.loss == "contrastive" and self.uses_metric_loss:
            loss += "".join(self._contrastive_name_parts())
        if self.teacher is not None:
            loss = "-".join([*self._distill_name_parts(), *([loss] if self.uses_metric_loss else [])])
            loss += f"-mw{self.metric_weight:g}" if self.uses_metric_loss and self.metric_weight != 1 else ""
        body = self.backbone + ("-frozen" if self.freeze_backbone else "") + ("-nohead" if self.head == "none" else "")
        body += "-aligned" if self.face_template is not None and self.teacher is None else ""
        return f"{self.dataset}{subset}-{loss}-{body}-d{self.dim}{''.join(self._recipe_name_parts())}-s{self.seed}"

    @property
    def teacher_label(self) -> str | None:
        """The teacher as run names say it: a face backbone's name, or a teacher run directory's own name."""
        if self.teacher is None:
            return None
        return self.teacher if self.teacher in FACE_BACKBONES else PurePath(str(self.teacher).rstrip("/\\")).name

    def _distill_name_parts(self) -> list[str]:
        """What a distilled run's name says: distill, the teacher, and the distillation settings that differ from
        the defaults (rel0: no relational term, l2: the L2 regression)."""
        parts = ["distill", str(self.teacher_label)]
        for name, text in (("distill_embedding", "emb{:g}"), ("distill_relation", "rel{:g}"), ("distill_distance", "{}")):
            if getattr(self, name) != DISTILL_SETTINGS[name]:
                parts.append(text.format(getattr(self, name)))
        return parts

    def _recipe_name_parts(self) -> list[str]:
        """What a run's name says of its input size, schedule length and learning rate when they are not the
        defaults (-px96, -e30, -lr0.0003), so that a grid can compare them."""
        defaults = TrainConfig(loss=self.loss)
        return [text.format(getattr(self, name)) for name, text in (("image_size", "-px{}"), ("epochs", "-e{}"), ("lr", "-lr{:g}"))
                if getattr(self, name) != getattr(defaults, name)]


_FLAGS = {
    "dataset": ("dataset to learn from", {"choices": DATASETS}),
    "min_images": ("keep classes with at least this many images (LFW: 20 gives 62 people, 10 gives 158; TT100K: 20 gives 71 classes)", {"type": int}),
    "protocol": ("LFW only: 'closed' splits the kept people's images; 'devtrain' trains on DevTrain identities and tests on the unseen DevTest ones", {"choices": LFW_PROTOCOLS}),
    "extra_data": ("LFW devtrain only: more people for training, never for evaluation (celeba10k: 5,262 CelebA people under $DOPPELGANGER_DATA_DIR/celeba10k)", {"choices": EXTRA_DATA}),
    "loss": ("metric loss: contrastive pairs (balanced pair batches), triplet (P x K batches, with --miner), or cosface (a margin softmax over the training classes, P x K batches)", {"choices": LOSSES}),
    "margin": ("margin of the loss; default per loss: " + ", ".join(f"{k} {v}" for k, v in DEFAULT_MARGINS.items()) + " (unit-length embeddings: distances lie in [0, 2])", {"type": float}),
    "pairs": ("contrastive only: 'batch' makes the loss cover every pair of images of a batch of balanced drawn pairs; 'pk' every pair of a P x K batch (--images-per-class); 'drawn' the drawn pairs only", {"choices": PAIRS}),
    "pos_margin": ("contrastive only: positive pairs closer than this add no loss (0: pull them all the way together)", {"type": float}),
    "hinge": ("contrastive only: each pair's hinge squared (Hadsell et al. 2006) or plain (pytorch-metric-learning)", {"choices": HINGES}),
    "reducer": ("contrastive only: average the positive and the negative terms over all pairs ('mean') or over the pairs still inside a margin ('nonzero', pytorch-metric-learning's AvgNonZeroReducer)", {"choices": REDUCERS}),
    "miner": ("triplet only: which triplets of a P x K batch the loss sees", {"choices": MINERS}),
    "miner_warmup": ("triplet only: epochs at the start that mine semi-hard triplets before --miner takes over, a warm-up on easier triplets (0: none)", {"type": int}),
    "images_per_class": ("triplet, cosface, and contrastive with --pairs pk: K, the images of each class in a P x K batch (P = 2 x batch size / K)", {"type": int}),
    "scale": ("cosface only: the scale s of the cosine logits", {"type": float}),
    "teacher": ("distil this network into the student (--backbone): a face backbone name (face_reid_0095) or a run directory (runs/default); the student learns to reproduce its embeddings of the same aligned faces, computed once and cached (model/teacher.py); LFW only", {}),
    "distill_embedding": ("distillation only: weight of the embedding regression, the distance between the student's unit vector and the teacher's (a linear projection when --dim differs from the teacher's)", {"type": float}),
    "distill_relation": ("distillation only: weight of the relational term, the student's cosine similarities within a batch matching the teacher's (Park et al. 2019, Tung & Mori 2019)", {"type": float}),
    "distill_distance": ("distillation only: the embedding regression's distance between the unit vectors: 1 - cosine, or the Euclidean distance (l2)", {"choices": DISTANCES}),
    "metric_weight": ("distillation only: weight of the metric --loss beside the distillation terms (0: off, its settings then refused)", {"type": float}),
    "face_template": ("align faces on this face backbone's five-point template, the crop resized to --image-size, instead of cropping LFW's frame (a distilled run takes its teacher's)", {"choices": FACE_BACKBONES}),
    "backbone": ("network body; mobilenet_v2 starts from ImageNet weights, the others from scratch", {"choices": BACKBONES}),
    "head": ("after the backbone: 'linear' projects its features to --dim; 'none' keeps them (--dim must then be the backbone's width, 256 for face_reid_0095)", {"choices": HEADS}),
    "dim": ("embedding dimension (2, 16, 32, 64, 128, ...)", {"type": int}),
    "image_size": ("model input size in pixels (images are resized to it once and cached)", {"type": int}),
    "epochs": ("training epochs", {"type": int}),
    "batch_size": ("pairs per batch: every batch embeds twice as many images, whatever the loss", {"type": int}),
    "pairs_per_epoch": ("epoch length in pairs (twice as many images), whatever the loss", {"type": int}),
    "lr": ("peak learning rate of AdamW (linear warm-up, then cosine decay)", {"type": float}),
    "weight_decay": ("AdamW weight decay", {"type": float}),
    "seed": ("seed of the split, the pairs, the augmentation and the initial weights", {"type": int}),
    "threads": ("CPU threads for PyTorch per process (0: every core, shared out between the processes torchrun starts on one machine)", {"type": int}),
    "device": ("where to train: auto picks this process's GPU (cuda:LOCAL_RANK) when CUDA is available, else the CPU", {"choices": DEVICES}),
}


def _default_text(defaults: TrainConfig, name: str) -> Any:
    if name in LOSS_SETTINGS:
        return LOSS_SETTINGS[name][1]
    if name in DISTILL_SETTINGS:
        return DISTILL_SETTINGS[name]
    return getattr(defaults, name)


def add_train_arguments(parser: argparse.ArgumentParser) -> None:
    defaults = TrainConfig()
    parser.add_argument("--config", help="a JSON or TOML file of the settings below (flags override it)")
    for name, (text, extra) in _FLAGS.items():
        parser.add_argument(
            "--" + name.replace("_", "-"), dest=name, default=argparse.SUPPRESS,
            help=f"{text} (default: {_default_text(defaults, name)})", **extra,
        )
    parser.add_argument("--no-pretrained", dest="pretrained", action="store_false", default=argparse.SUPPRESS,
                        help="start mobilenet_v2 from random weights instead of ImageNet")
    parser.add_argument("--freeze-backbone", dest="freeze_backbone", action="store_true", default=argparse.SUPPRESS,
                        help="train the head only, the backbone's weights fixed (a pretrained face backbone's features, re-projected)")
    parser.add_argument("--no-amp", dest="amp", action="store_false", default=argparse.SUPPRESS,
                        help="on a GPU, train in float32 instead of mixed precision (bfloat16 where the GPU has it, else float16 with loss scaling); the CPU always trains in float32")
    parser.add_argument("--soft-margin", dest="soft_margin", action="store_true", default=argparse.SUPPRESS,
                        help="triplet only: softplus(d(a,p) - d(a,n)) instead of the hinge with a margin (Hermans et al. 2017)")
    parser.add_argument("--out", help="run directory (default: $DOPPELGANGER_RUNS_DIR/<dataset><subset>-<loss>-<backbone>-d<dim>-s<seed>)")
    parser.add_argument("--resume", action="store_true", help="continue the run in --out from its last checkpoint")


TRAIN_FLAGS = tuple(_FLAGS) + ("pretrained", "soft_margin", "amp", "freeze_backbone")
"""The ``TrainConfig`` fields that flags can set."""
