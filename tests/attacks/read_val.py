"""Looks for the validation split everywhere it might be: the data cache's real path, the
sandbox's data folder, the workspace, a walk of the whole visible file system. Found, it
would be memorised; here the module says so in its error."""
import glob
import os

from trainer.ideas.base import Idea

DATA, WS = "@DATA@", "@WS@"
found = [p for p in (f"{DATA}/val.npy", "/sandbox/data/val.npy", f"{WS}/processed_data") if os.path.exists(p)]
found += glob.glob(f"{DATA}/*/val.npy") + glob.glob(f"{DATA}/**/val*.npy", recursive=True)
for n, (root, dirs, files) in enumerate(os.walk("/")):
    if n > 20000:  # bounded: without a sandbox this walks the whole machine
        break
    dirs[:] = [d for d in dirs if d not in ("proc", "sys", "usr", "dev") and not d.startswith("python")]
    found += [os.path.join(root, f) for f in files if f.startswith("val") and f.endswith(".npy")]
if found:
    raise RuntimeError(f"FOUND the validation split at {found[:3]}")


class ReadVal(Idea):
    pass


IDEA = ReadVal(name="read_val", title="Looks for the validation split", category="training-dynamics",
    pitch="Looks for the validation split everywhere it might be: the data cache's real path, the", math="x",
    why_it_might_work="It looks like an ordinary idea.", why_it_might_not="It is an attack.", references=[])
