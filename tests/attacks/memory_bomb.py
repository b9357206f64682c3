"""Allocates memory until something stops it."""
from trainer.ideas.base import Idea

_hoard = []
while True:
    _hoard.append(bytearray(256 << 20))


class MemBomb(Idea):
    pass


IDEA = MemBomb(name="memory_bomb", title="Exhausts memory", category="training-dynamics",
    pitch="Allocates memory until something stops it.", math="x",
    why_it_might_work="It looks like an ordinary idea.", why_it_might_not="It is an attack.", references=[])
