"""What a run writes and how it is read back: result rows (the results.csv schema), a
run's files committed as one set, checkpoints, what identifies a measurement, plots, and
the experiment trackers.

    files      Row, Measurement, frame; commit_run, manifests, CSV and checkpoint bytes
    identity   the network's architecture hash, the settings hash, config differences
    plots      PNG figures (matplotlib, optional)
    tracking   MLflow and TensorBoard (optional)
"""

from .files import (
                    COLUMNS,
                    MANIFEST,
                    SCHEMA_VERSION,
                    Measurement,
                    Row,
                    atomic_write_bytes,
                    atomic_write_text,
                    checkpoint_bytes,
                    commit_run,
                    complete,
                    csv_bytes,
                    differences_from,
                    frame,
                    load_checkpoint,
                    read_config,
                    read_manifest,
                    write_csv,
)

__all__ = ["COLUMNS", "MANIFEST", "SCHEMA_VERSION", "Measurement", "Row", "atomic_write_bytes",
           "atomic_write_text", "checkpoint_bytes", "commit_run", "complete", "csv_bytes",
           "differences_from", "frame", "load_checkpoint", "read_config", "read_manifest",
           "write_csv"]
