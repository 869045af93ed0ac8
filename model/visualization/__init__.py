"""Pictures of an embedding: 2-D projections, scatter plots, an interactive HTML map and a TensorBoard projector.

``doppelganger visualize RUN_DIR`` (``model.visualization.visualize``) writes them all. The modules import
nothing heavy at package level, so the command line's ``--help`` stays fast.
"""
