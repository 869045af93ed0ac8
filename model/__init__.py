"""Learning and evaluating an embedding: data, transforms, samplers, networks, losses, training, evaluation.

This package knows nothing of ``index`` or ``app``; they build on it.
"""
