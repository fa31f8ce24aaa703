"""Qt-free core: data, models, losses, the one training loop, checkpoints, sampling."""
