"""The FAISS index over a gallery of faces (built on ``model``)."""
