"""Perturbed Masking: unsupervised words and trees read out of a masked language model."""
