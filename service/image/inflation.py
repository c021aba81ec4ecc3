"""How far compressed bytes may inflate before they are refused as a decompression bomb.

The same rule for an image archive's content (:mod:`service.image.tarball`) and for a
layer's tar as it is read (:mod:`service.layers.inflate`): at most MAX_RATIO times the
compressed size once past RATIO_FLOOR_BYTES, and never more than MAX_TOTAL_BYTES.
Image layers compress 2-10 times; a bomb, hundreds or thousands of times.
"""

MAX_TOTAL_BYTES = 64 << 30
MAX_RATIO = 100
RATIO_FLOOR_BYTES = 64 << 20


def inflation_limit(compressed: int) -> int:
    """How many bytes ``compressed`` bytes may inflate to."""
    return min(MAX_TOTAL_BYTES, max(RATIO_FLOOR_BYTES, MAX_RATIO * compressed))
