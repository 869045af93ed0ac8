"""Pretrained face models we build on: where they come from, their checksums, and ``doppelganger models download``.

Each model is a set of files in the weights folder (``DOPPELGANGER_WEIGHTS_DIR``; ``../shared/weights/faces``
when it exists, else ``./weights/faces``), laid out as ``openvino/<name>.xml`` + ``.bin`` (Intel's Open Model Zoo,
release 2023.0, FP16) and ``opencv_zoo/<name>.onnx`` (OpenCV Zoo). Every file is checked against its SHA-256
before a network is built from it, and the download writes through a staging folder: a failed or corrupt
download leaves nothing half-written. Without a network, the error says which files to fetch and where.
"""

from __future__ import annotations

import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path

from model.data.download import DownloadError, HTTPStatus, Unreachable, fetch
from model.hashing import file_sha256

INTEL_OMZ = "https://storage.openvinotoolkit.org/repositories/open_model_zoo/2023.0/models_bin/1/"
OPENCV_ZOO = "https://github.com/opencv/opencv_zoo/raw/main/models/"


class WeightsUnavailableError(RuntimeError):
    """Pretrained weights are not on disk (or fail their checksum); the message says where to put them."""


@dataclass(frozen=True)
class WeightsFile:
    """One file of a pretrained model: its place in the weights folder, SHA-256 and publisher's URL."""

    path: str
    sha256: str
    url: str


@dataclass(frozen=True)
class PretrainedModel:
    name: str
    what: str
    licence: str
    files: tuple[WeightsFile, ...]

    @property
    def main_file(self) -> str:
        """The file a runtime opens (the ``.xml`` graph of an IR, or the ``.onnx``)."""
        return self.files[0].path


def _omz(name: str, xml_sha: str, bin_sha: str, what: str) -> PretrainedModel:
    base = f"{INTEL_OMZ}{name}/FP16/{name}"
    return PretrainedModel(name, what, "Apache-2.0", (
        WeightsFile(f"openvino/{name}.xml", xml_sha, base + ".xml"),
        WeightsFile(f"openvino/{name}.bin", bin_sha, base + ".bin"),
    ))


MODELS: dict[str, PretrainedModel] = {m.name: m for m in (
    _omz("face-reidentification-retail-0095",
         "ce53d2c9c08c0bd1c1660fb8a5b6d0e3e4ec19eb92f1036d2d83a85e83082dce",
         "241229ca3d206321868d46ce74a3c0b06c49cea58db7dc70b2e842ff287545d1",
         "256-d face embedding (MobileFaceNet-like), 128x128 BGR input aligned on 5 landmarks"),
    _omz("landmarks-regression-retail-0009",
         "1d7e43d3060e8f0328932ae9eeced07ff216eac80f10fd07b58c52fbaf69af58",
         "a7285eec8cb20a50c0ed567c426db6c7b8753c51b47f798f8ef5d8e0fa12d3c5",
         "5 facial landmarks of a 48x48 face crop"),
    _omz("face-detection-retail-0004",
         "8675f0b00d91a4b5048d0e9caf492d7b48e80c9150db23429bb92c0428b97447",
         "d0a8ca818c657b454ce6118715c49027b1b70d9d85a83a9a4a6606d773b02dfe",
         "SSD face detector, 300x300 input"),
    PretrainedModel("face_detection_yunet_2023mar_int8bq", "YuNet face detector with 5 landmarks (OpenCV Zoo)",
                    "MIT / Apache-2.0", (WeightsFile(
                        "opencv_zoo/face_detection_yunet_2023mar_int8bq.onnx",
                        "49f000ec501fef24739071fc7e68267d32209045b6822c0c72dce1da25726f10",
                        OPENCV_ZOO + "face_detection_yunet/face_detection_yunet_2023mar_int8bq.onnx"),)),
    PretrainedModel("face_recognition_sface_2021dec_int8bq", "SFace 128-d face embedding, 112x112 (OpenCV Zoo)",
                    "Apache-2.0", (WeightsFile(
                        "opencv_zoo/face_recognition_sface_2021dec_int8bq.onnx",
                        "fb143eea07838aa532d1c95df5f69899974ea0140e1fba05e94204be13ed74ee",
                        OPENCV_ZOO + "face_recognition_sface/face_recognition_sface_2021dec_int8bq.onnx"),)),
)}


def weights_dir() -> Path:
    from model.settings import get_settings

    return get_settings().weights_dir


def _is_valid(path: Path, sha256: str) -> bool:
    return path.is_file() and file_sha256(path) == sha256


def model_file(name: str, root: Path | None = None) -> Path:
    """The main file of pretrained model ``name`` in the weights folder, every file of it checked; otherwise
    ``WeightsUnavailableError`` saying how to get them."""
    model = MODELS[name]
    root = Path(root) if root is not None else weights_dir()
    bad = [f for f in model.files if not _is_valid(root / f.path, f.sha256)]
    if bad:
        missing = ", ".join(str(root / f.path) for f in bad)
        raise WeightsUnavailableError(
            f"the pretrained model {name} is missing or fails its SHA-256 check ({missing}): run "
            f"`doppelganger models download {name}` with internet, or download {', '.join(f.url for f in bad)} "
            f"by hand into {root} (keeping the openvino/ and opencv_zoo/ folders), or set DOPPELGANGER_WEIGHTS_DIR "
            "to a folder that holds them"
        )
    return root / model.main_file


def download_models(names: list[str] | None = None, dest: Path | None = None, base_url: str | None = None,
                    timeout: float = 10.0) -> list[str]:
    """Download the files of ``names`` (default: every model) missing from ``dest``, checking each SHA-256; return
    the paths fetched. ``base_url`` replaces every publisher (a mirror laid out like the weights folder).

    Files are fetched into a staging folder beside ``dest`` and moved in only once every file of the request
    passed its check: a failure leaves ``dest`` as it was. Raises ``DownloadError`` with what to do."""
    dest = Path(dest) if dest is not None else weights_dir()
    unknown = sorted(set(names or ()) - set(MODELS))
    if unknown:
        raise ValueError(f"unknown model(s) {', '.join(unknown)}; choose among {', '.join(MODELS)}")
    wanted = [f for name in (names or list(MODELS)) for f in MODELS[name].files]
    missing = [f for f in wanted if not _is_valid(dest / f.path, f.sha256)]
    if not missing:
        return []
    try:
        dest.mkdir(parents=True, exist_ok=True)
        staging = Path(tempfile.mkdtemp(prefix=".weights-download-", dir=dest))
    except OSError as error:
        raise DownloadError(f"cannot write to {dest}: {error}") from error
    try:
        for i, entry in enumerate(missing):
            url = (base_url.rstrip("/") + "/" + entry.path) if base_url else entry.url
            part = staging / entry.path
            part.parent.mkdir(parents=True, exist_ok=True)
            try:
                fetch(url, part, entry.sha256, timeout, algorithm="sha256")
            except (Unreachable, HTTPStatus) as error:
                raise DownloadError(
                    f"cannot download {url} ({error}); download "
                    + ", ".join(f.url for f in missing[i:])
                    + f" by hand into {dest} (keeping the openvino/ and opencv_zoo/ folders), or set "
                    "DOPPELGANGER_WEIGHTS_DIR to a folder that holds them"
                ) from error
        for entry in missing:
            (dest / entry.path).parent.mkdir(parents=True, exist_ok=True)
            (staging / entry.path).replace(dest / entry.path)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return [f.path for f in missing]
