"""Writes a tiny fake 'UCI HAR Dataset' folder for the loader tests."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from snnx.data import HAR_CHANNELS

UCI_NAMES = ["WALKING", "WALKING_UPSTAIRS", "WALKING_DOWNSTAIRS", "SITTING", "STANDING",
             "LAYING"]


def uci_value(split_code: int, channel: int, row: int, col: int) -> float:
    """The number the fake folder stores at (row, col) of one inertial file."""
    return split_code * 100 + channel + row * 0.01 + col * 1e-4


def write_fake_uci(root: Path, *, n_rows=None, n_feat: int = 561) -> Path:
    """A tiny 'UCI HAR Dataset' folder: train 5 rows (subjects 1, 3), test 3 rows (2).

    Inertial files hold :func:`uci_value` so tests can check channel order and rows.
    """
    n_rows = n_rows or {"train": 5, "test": 3}
    root.mkdir(parents=True)
    (root / "activity_labels.txt").write_text(
        "".join(f"{i + 1} {n}\n" for i, n in enumerate(UCI_NAMES)))
    (root / "features.txt").write_text("".join(f"{i + 1} feat-{i}()\n" for i in range(n_feat)))
    labels = {"train": [1, 2, 6, 4, 5], "test": [3, 6, 1]}
    subjects = {"train": [1, 1, 1, 3, 3], "test": [2, 2, 2]}
    for code, split in enumerate(("train", "test")):
        d = root / split
        (d / "Inertial Signals").mkdir(parents=True)
        n = n_rows[split]
        (d / f"y_{split}.txt").write_text("".join(f"{v}\n" for v in labels[split][:n]))
        (d / f"subject_{split}.txt").write_text("".join(f"{v}\n" for v in subjects[split][:n]))
        for c, name in enumerate(HAR_CHANNELS):
            rows = [" " + "  ".join(f"{uci_value(code, c, r, k):.7e}" for k in range(128))
                    for r in range(n)]
            (d / "Inertial Signals" / f"{name}_{split}.txt").write_text("\n".join(rows) + "\n")
        feats = np.arange(n * n_feat, dtype=np.float64).reshape(n, n_feat) / 1e4 - code
        (d / f"X_{split}.txt").write_text(
            "\n".join(" ".join(f"{v:.7e}" for v in row) for row in feats) + "\n")
    return root
