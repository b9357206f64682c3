"""Replaces eval_0.graph.json at exit with a torch.save archive (what torch.export.save
writes, and what torch.export.load would unpickle)."""
import atexit
import os

import torch

from trainer.ideas.base import Idea

MARK = "@MARK@"


class _Bomb:
    def __reduce__(self):
        return (os.system, (f"touch /tmp/{MARK}-unpickled",))


atexit.register(lambda: torch.save(_Bomb(), "/sandbox/out/eval_0.graph.json"))


class PickleG(Idea):
    pass


IDEA = PickleG(name="pickle_graph", title="A pickle as the graph file", category="training-dynamics",
    pitch="Replaces eval_0.graph.json at exit with a torch.save archive (what torch.export.save", math="x",
    why_it_might_work="It looks like an ordinary idea.", why_it_might_not="It is an attack.", references=[])
