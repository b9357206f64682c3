"""Import-time code in a decorator: writes markers and appends to the journal."""
import glob
import os

WS, MARK = "@WS@", "@MARK@"


def _everywhere(fn):
    for target in (f"/tmp/{MARK}", f"{WS}/{MARK}", f"../../{MARK}", f"/dev/shm/{MARK}"):
        try:
            with open(target, "w") as f:
                f.write("written at import by a decorator")
        except OSError:
            pass
    for journal in glob.glob(f"{WS}/docs/research/*.json") + glob.glob("../../docs/research/*.json"):
        try:
            with open(journal, "a") as f:
                f.write('{"forged": true}')
        except OSError:
            pass
    return fn


from trainer.ideas.base import Idea


class Deco(Idea):
    @_everywhere
    def patch_model(self, model):
        pass


IDEA = Deco(name="deco_import", title="A decorator runs at import", category="training-dynamics",
    pitch="Import-time code in a decorator: writes markers and appends to the journal.", math="x",
    why_it_might_work="It looks like an ordinary idea.", why_it_might_not="It is an attack.", references=[])
