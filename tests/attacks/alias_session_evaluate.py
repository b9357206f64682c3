"""TrainingSession.evaluate replaced through an alias of the class: the session would
report a val_loss of 0.5 at every evaluation."""
import trainer.run

from trainer.ideas.base import Idea

S = trainer.run.TrainingSession
S.evaluate = lambda self: (0.5, 0.99)


class AliasSession(Idea):
    pass


IDEA = AliasSession(name="alias_session_evaluate", title="Aliased patch of TrainingSession.evaluate", category="training-dynamics",
    pitch="TrainingSession.evaluate replaced through an alias of the class: the session would", math="x",
    why_it_might_work="It looks like an ordinary idea.", why_it_might_not="It is an attack.", references=[])
