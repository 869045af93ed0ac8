"""What an index build needs, checked before its first image is decoded: a build that would stop after an hour of
embedding for want of a file stops in a second instead, saying what is missing and how to get it.

``index.build.build_index`` checks, in this order and without decoding or hashing any gallery image: the run and
its checkpoint (``lfw_trained_run``), the gallery folders and their people, then here: that the index folder is
writable, the run's split (whose people the calibration leaves out), LFW's ``pairs.txt`` and every LFW image its
pairs of unseen people use (only when the build will fit a new calibration), the face detector's weights (for
whole photos, and for face frames when the model's crop aligns them), the FAISS factory string, and last the
model itself (an embedder that cannot load its weights fails there).
"""

from __future__ import annotations

import importlib.util
import os
import uuid
from pathlib import Path

from index.vector_index import check_factory
from model.data.lfw import image_dir, read_pairs, unseen_pairs
from model.pretrained import model_file

MTCNN_FILES = ("pnet.pt", "rnet.pt", "onet.pt")
"""MTCNN's three networks, shipped inside the facenet-pytorch package."""
DETECTOR_WEIGHTS = {
    "yunet": ("face_detection_yunet_2023mar_int8bq",),
    "openvino": ("face-detection-retail-0004", "landmarks-regression-retail-0009"),
}
"""The pretrained files (``model.pretrained.MODELS``) each photo detector needs; MTCNN's come with its package."""
LFW_HINT = "get LFW with `doppelganger data download lfw`, or set DOPPELGANGER_DATA_DIR to the folder that holds lfw/"


class PrerequisiteError(FileNotFoundError):
    """Something a build needs is missing or unusable; the message says what, and what to do."""


def check_output(index_dir: Path, staging: Path) -> None:
    """``index_dir`` exists or can be made, and ``staging`` (the build's checkpoint folder inside it) is writable."""
    probe = Path(staging) / f".probe-{os.getpid()}-{uuid.uuid4().hex[:6]}"
    try:
        Path(staging).mkdir(parents=True, exist_ok=True)
        probe.write_bytes(b"")
        probe.unlink()
    except OSError as error:
        raise PrerequisiteError(
            f"cannot write to the index folder {index_dir} ({error.strerror or error}): give a writable folder with "
            f"--out, or set DOPPELGANGER_INDEX_DIR"
        ) from error


def check_calibration_data(lfw_dir: Path, trained: set[str]) -> int:
    """LFW's ``pairs.txt`` reads, and every image of its pairs of people outside ``trained`` is on disk; returns
    how many pairs the calibration will use."""
    pairs_file = Path(lfw_dir) / "pairs.txt"
    if not pairs_file.is_file():
        raise PrerequisiteError(f"{pairs_file} is missing: the similarity calibration needs LFW's pairs; {LFW_HINT}")
    try:
        pairs = read_pairs(pairs_file)
    except (OSError, ValueError) as error:
        raise PrerequisiteError(f"{pairs_file} cannot be read ({error}): the similarity calibration needs LFW's "
                                f"pairs; {LFW_HINT}") from error
    try:
        root = image_dir(lfw_dir)
    except FileNotFoundError as error:
        raise PrerequisiteError(f"the similarity calibration needs LFW's images: {error}") from error
    keep = unseen_pairs(pairs, trained)
    needed = sorted({pairs.left[i] for i in keep} | {pairs.right[i] for i in keep})
    missing = [path for path in needed if not (root / path).is_file()]
    if missing:
        raise PrerequisiteError(
            f"{len(missing)} of the {len(needed)} LFW images the similarity calibration needs are missing from {root} "
            f"(e.g. {', '.join(missing[:3])}); {LFW_HINT}"
        )
    return int(len(keep))


def check_mtcnn() -> None:
    """MTCNN (facenet-pytorch) is installed with its three networks."""
    spec = importlib.util.find_spec("facenet_pytorch")
    if spec is None or spec.origin is None:
        raise PrerequisiteError(
            "the face detector MTCNN is not installed (the facenet-pytorch package): install the project's "
            "dependencies, `pip install -e .`"
        )
    data = Path(spec.origin).parent / "data"
    missing = [name for name in MTCNN_FILES if not (data / name).is_file()]
    if missing:
        raise PrerequisiteError(
            f"MTCNN's weights {', '.join(missing)} are missing from {data}: reinstall facenet-pytorch "
            f"(`pip install --force-reinstall --no-deps facenet-pytorch`)"
        )


def photo_detector_name() -> str:
    """The detector whole photos go through (the ``detector`` setting where there is one, else MTCNN)."""
    from model.settings import get_settings

    return str(getattr(get_settings(), "detector", "mtcnn") or "mtcnn")


def check_photo_detector() -> None:
    """The weights of the photo detector are on disk and pass their checksums (``WeightsUnavailableError`` says
    where to get them)."""
    name = photo_detector_name()
    if name == "mtcnn":
        check_mtcnn()
        return
    for weights in DETECTOR_WEIGHTS.get(name, ()):
        model_file(weights)


def check_images(count: int, factory: str, dim: int) -> None:
    """The galleries hold images, and FAISS can build ``factory`` over them."""
    if count == 0:
        raise PrerequisiteError("the galleries hold no images once the excluded people are left out: add people, "
                                "or give another --gallery")
    check_factory(factory, int(dim), int(count))

