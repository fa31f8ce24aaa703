"""GAN Studio: train, explore and apply generative adversarial networks."""

__version__ = "0.1.0"
