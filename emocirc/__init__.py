"""emocirc: the emotion in a voice, placed on Russell's circumplex of affect.

Data flows one way: audio files -> corpus table (:mod:`emocirc.corpora`) ->
features (:mod:`emocirc.features`, cached) -> models (:mod:`emocirc.finetune`)
-> analysis (:mod:`emocirc.circumplex`) -> figures (:mod:`emocirc.plotting`).
"""

from emocirc.errors import EmocircError

__version__ = "0.1.0"

__all__ = ["EmocircError", "__version__"]
