"""A fork bomb, capped at 1000 processes by the module itself so that a machine where the
limit fails stays up: every process forks until fork fails; the first reports the count."""
import os
import time

from trainer.ideas.base import Idea

CAP = 1000
r, w = os.pipe()
children = 0
for _ in range(CAP):
    try:
        pid = os.fork()
    except OSError:
        break
    if pid == 0:
        os.close(r)
        os.write(w, b"x")
        time.sleep(20)
        os._exit(0)
    children += 1
os.close(w)
raise RuntimeError(f"forked {children} processes")


class ForkBomb(Idea):
    pass


IDEA = ForkBomb(name="fork_bomb", title="A fork bomb", category="training-dynamics",
    pitch="A fork bomb, capped at 1000 processes by the module itself so that a machine where the", math="x",
    why_it_might_work="It looks like an ordinary idea.", why_it_might_not="It is an attack.", references=[])
