"""The FAISS index over a gallery of faces, built with a trained ``model`` run.

``index.gallery``        the gallery's image files: people, paths, content hashes
``index.metadata``       the SQLite store beside the vectors: id, person, path, hash, model, embedding, face box
``index.manifest``       what an index was built from: model hash, crop, dimension, count, factory, calibration
``index.vector_index``   FAISS: ids over an inner-product index chosen by a factory string
``index.storage``        versions on disk, published atomically; loading checks the model
``index.calibration``    similarity in percent and the same-person threshold, fitted on LFW pairs
``index.preflight``      what a build needs, checked before it decodes anything
``index.journal``        a build's checkpoint: what it embedded, so a stopped build resumes
``index.build``          (incremental) builds: unchanged images keep their embeddings
``index.thumbnails``     the square face of a gallery image that a look-alike card shows
``index.matcher``        a photo in, each face's look-alikes out, with the time each stage took
"""
