"""Image data beyond MNIST, read without pickle: CIFAR-10's official binary distribution
and an .npz of images of your own; random-crop and flip augmentation for training.

CIFAR-10 binary (`cifar-10-binary.tar.gz`, or its folder `cifar-10-batches-bin/`):
data_batch_1.bin .. data_batch_5.bin (the training part) and test_batch.bin (the test
part), each a sequence of 3,073-byte records: one label byte (0..9), then 1,024 red,
1,024 green and 1,024 blue bytes of a 32 x 32 image, row by row. An archive of the same
layout with fewer records (as the tests build) reads the same way. The "python version"
of CIFAR-10 is pickled and refused.
"""

from __future__ import annotations

import tarfile
from pathlib import Path

import numpy as np

from ..errors import DataError
from .files import load_npz_xy, not_a_file

RECORD = 3073  # label byte + 3 x 32 x 32 bytes
TRAIN = [f"data_batch_{i}.bin" for i in range(1, 6)]
TEST = "test_batch.bin"


def read_cifar10(path: Path) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """(x_train, y_train, x_test, y_test): uint8 images (N, 3, 32, 32) and int64 labels."""
    path = Path(path)
    files = _cifar_files(path)
    parts = []
    for names in (TRAIN, [TEST]):
        xs, ys = [], []
        for name in names:
            data = files.get(name)
            if data is None:
                raise DataError(f"{path}: {name} is missing; expected CIFAR-10's binary "
                                f"distribution ({', '.join(TRAIN)}, {TEST})")
            if len(data) == 0 or len(data) % RECORD:
                raise DataError(f"{path}: {name} holds {len(data)} bytes, not a whole number "
                                f"of {RECORD}-byte records (a label byte and 3,072 pixel "
                                "bytes): truncated or not CIFAR-10's binary version")
            rec = np.frombuffer(data, dtype=np.uint8).reshape(-1, RECORD)
            labels = rec[:, 0].astype(np.int64)
            if labels.max() > 9:
                bad = int(np.argmax(labels > 9))
                raise DataError(f"{path}: {name} record {bad + 1} has label {labels[bad]}: "
                                "allowed 0..9")
            xs.append(rec[:, 1:].reshape(-1, 3, 32, 32))
            ys.append(labels)
        parts += [np.concatenate(xs), np.concatenate(ys)]
    return tuple(parts)


def _cifar_files(path: Path) -> dict[str, bytes]:
    """{name: bytes} of the batches in the archive or folder `path` (pickles refused)."""
    if path.is_dir():
        found = {p.name: p for p in path.rglob("*") if p.is_file()}
        _refuse_pickles(path, found)
        return {n: p.read_bytes() for n, p in found.items() if n in TRAIN or n == TEST}
    if not path.is_file():
        raise not_a_file(path, "CIFAR-10's cifar-10-binary.tar.gz or its cifar-10-batches-bin "
                         "folder")
    try:
        with tarfile.open(path) as tar:
            members = {Path(m.name).name: m for m in tar.getmembers() if m.isfile()}
            _refuse_pickles(path, members)
            return {n: tar.extractfile(m).read() for n, m in members.items()
                    if n in TRAIN or n == TEST}
    except (tarfile.TarError, EOFError, OSError) as e:
        raise DataError(f"{path} is not a readable tar archive ({type(e).__name__}: "
                        f"{' '.join(str(e).split())}): truncated, or not "
                        "cifar-10-binary.tar.gz") from None


def _refuse_pickles(path: Path, names) -> None:
    if any(n.startswith("data_batch_") and not n.endswith(".bin") for n in names) or \
            "batches.meta" in names:
        raise DataError(f"{path}: CIFAR-10's python version is pickled; refusing to unpickle "
                        "a file you supply (a pickle can run code when loaded): use the binary "
                        "version, cifar-10-binary.tar.gz")


def read_images_npz(path: Path) -> tuple[np.ndarray, np.ndarray]:
    """Images (N, C, H, W), or sequences (N, C, L), as float32 (uint8 scaled to [0, 1]) and
    labels from an .npz with arrays `x` and `y`, loaded without pickle."""
    x, y = load_npz_xy(path)
    if x.ndim not in (3, 4) or y.ndim != 1 or len(x) != len(y) or not len(x):
        raise DataError(f"{path}: x of shape {list(x.shape)}, y of shape {list(y.shape)}; "
                        "expected N x C x H x W (images) or N x C x L (sequences) and N, "
                        "N > 0")
    if not np.issubdtype(y.dtype, np.integer) or y.min() < 0:
        raise DataError(f"{path}: y must hold class indices 0, 1, ... (integers)")
    x = x.astype(np.float32) / 255.0 if x.dtype == np.uint8 else x.astype(np.float32)
    if not np.isfinite(x).all():
        raise DataError(f"{path}: x holds values that are not finite numbers")
    return x, y.astype(np.int64)


def image_info(path: Path) -> tuple[list[int], int]:
    """(input shape, number of classes) of an .npz of images."""
    x, y = read_images_npz(path)
    return list(x.shape[1:]), int(y.max()) + 1


def crop_flip(x, generator, pad: int = 4):
    """A batch of images (N, C, H, W), each randomly shifted by up to `pad` pixels (zero
    padding, then a crop of the original size) and mirrored left-right with probability
    1/2, every draw from `generator`: the standard CIFAR augmentation."""
    import torch
    import torch.nn.functional as F

    n, _, h, w = x.shape
    dev = x.device
    oy, ox = (torch.randint(0, 2 * pad + 1, (n,), generator=generator).to(dev)
              for _ in range(2))
    flip = (torch.rand(n, generator=generator) < 0.5).to(dev)
    rows = oy[:, None] + torch.arange(h, device=dev)
    cols = ox[:, None] + torch.arange(w, device=dev)
    cols = torch.where(flip[:, None], cols.flip(1), cols)
    xp = F.pad(x, (pad, pad, pad, pad))
    idx = torch.arange(n, device=dev)[:, None, None]
    return xp.permute(0, 2, 3, 1)[idx, rows[:, :, None], cols[:, None, :]].permute(0, 3, 1, 2)
