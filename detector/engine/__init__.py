"""Training and evaluation engine: trainer loop, EMA, optimizer, checkpoints, validation, logging."""
