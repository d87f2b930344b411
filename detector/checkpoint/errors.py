"""What a checkpoint file says it is, and the one error the checkpoint readers raise (a leaf module:
everything that reads model files imports it, it imports nothing of ours)."""

FORMAT = "detector-checkpoint-v1"


class CheckpointError(RuntimeError):
    """A checkpoint or exported model is missing, truncated, not ours, or does not fit the model."""
