"""Starts processes: a shell through subprocess and os.system, a daemon that outlives the
run (setsid, sleep with the marker in its command line), and a signal to the study process
(possible only without a pid namespace)."""
import os
import subprocess

from trainer.ideas.base import Idea

WS, MARK, STUDY = "@WS@", "@MARK@", int("@PPID@")
subprocess.run(["sh", "-c", f"touch /tmp/{MARK}-sub {WS}/{MARK}-sub ../../{MARK}-sub 2>/dev/null"])
os.system(f"touch /tmp/{MARK}-system {WS}/{MARK}-system 2>/dev/null")
subprocess.Popen(["setsid", "sh", "-c", f"sleep 300 # {MARK}"], start_new_session=True)
try:
    os.kill(STUDY, 0)
    raise RuntimeError("REACHED the study process with a signal")
except ProcessLookupError:
    pass


class Spawn(Idea):
    pass


IDEA = Spawn(name="spawn_processes", title="Spawns processes", category="training-dynamics",
    pitch="Starts processes: a shell through subprocess and os.system, a daemon that outlives the", math="x",
    why_it_might_work="It looks like an ordinary idea.", why_it_might_not="It is an attack.", references=[])
