"""A training callback for tests/train/test_ddp.py (given as --callbacks shard_recorder:ShardRecorder):
each rank appends the image ids of its batches to $SHARD_DIR/rank{RANK}.txt."""
import os
from pathlib import Path

from detector.train.callbacks import Callback


class ShardRecorder(Callback):
    def on_batch_end(self, trainer) -> None:
        path = Path(os.environ["SHARD_DIR"]) / f"rank{trainer.rank}.txt"
        with open(path, "a", encoding="utf-8") as f:
            f.writelines(f"{trainer.epoch} {m['image_id']}\n" for m in trainer.batch["meta"])
