"""The FAISS index over a gallery of faces, built with a trained ``model`` run.

``index.gallery``        the gallery's image files: people, paths, content hashes
``index.metadata``       the SQLite store beside the vectors: id, person, path, hash, model, embedding
``index.manifest``       what an index was built from: model hash, dimension, count, factory string, calibration
``index.vector_index``   FAISS: ids over an inner-product index chosen by a factory string
``index.storage``        versions on disk, published atomically; loading checks the model
``index.calibration``    similarity in percent and the same-person threshold, fitted on LFW pairs
``index.build``          (incremental) builds: unchanged images keep their embeddings
``index.matcher``        a photo in, each face's look-alikes out, with the time each stage took
"""
