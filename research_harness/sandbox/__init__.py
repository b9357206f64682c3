"""The boundary for code a model wrote: it runs only in an operating-system sandbox
(bubblewrap), and what comes back is data the study process validates.

Filled in by the sandbox work (issue 14); the guard (guard.py) is a lint, not the boundary."""
