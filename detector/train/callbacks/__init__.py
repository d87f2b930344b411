"""Training callbacks: everything the loop does besides forward, loss, backward and step.
See :mod:`.base` for the hooks and the README ("Callbacks") for a 20-line example."""
from .base import HOOKS, Callback, CallbackList, load_callback
from .checkpoint import Checkpointer, training_state
from .loggers import ProgressBar, ResultsLogger, RunLogger
from .schedule import EMAUpdate, LRSchedule
from .validation import Validation


def default_callbacks() -> list[Callback]:
    """In the order their ``on_epoch_end`` must run: the lrs are read and stepped, the EMA weights
    validated, the row logged, the checkpoint (which records the new best) written."""
    return [LRSchedule(), EMAUpdate(), Validation(), ProgressBar(), ResultsLogger(), Checkpointer()]


__all__ = ["HOOKS", "Callback", "CallbackList", "Checkpointer", "EMAUpdate", "LRSchedule", "ProgressBar",
           "ResultsLogger", "RunLogger", "Validation", "default_callbacks", "load_callback", "training_state"]
