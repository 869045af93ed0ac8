"""From any photo to the 250x250 face frame of the LFW gallery: decode, detect, align.

- ``decode``: bytes or a file -> a clean 8-bit RGB image (orientation applied, metadata dropped, limits enforced).
- ``detector``: MTCNN (Zhang et al. 2016) faces with their five landmarks.
- ``alignment``: the similarity transform that puts a face's landmarks on the LFW template, and the warp.
- ``frame``: the whole path, photo -> LFW frame.
- ``calibration``: learns the template from LFW itself (``doppelganger faces calibrate``).
- ``check``: measures how close our crops come to LFW's own frames (``doppelganger faces check``).

docs/faces.md explains each step and gives the measured figures.
"""
