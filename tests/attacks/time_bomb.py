"""An endless loop in patch_model, after a child that ignores SIGTERM was started."""
import signal
import subprocess

from trainer.ideas.base import Idea

MARK = "@MARK@"
signal.signal(signal.SIGTERM, signal.SIG_IGN)
subprocess.Popen(["sh", "-c", f"trap '' TERM; sleep 300 # {MARK}"])


class TimeBomb(Idea):
    def patch_model(self, model):
        while True:
            pass


IDEA = TimeBomb(name="time_bomb", title="Never returns", category="training-dynamics",
    pitch="An endless loop in patch_model, after a child that ignores SIGTERM was started.", math="x",
    why_it_might_work="It looks like an ordinary idea.", why_it_might_not="It is an attack.", references=[])
