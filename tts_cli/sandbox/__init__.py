"""A sandbox for untrusted, model-written Python programs (a question can carry a prompt
injection, so what the model writes is the attacker's).

``run_program(source, limits=Limits())`` runs ``source`` with ``python -I -S`` (standard library
only) in a bubblewrap jail: new PID, network, IPC, UTS and mount namespaces, no inherited
environment, a read-only filesystem that holds only /usr and the Python installation, a fresh
size-limited tmpfs as working directory, no capabilities, never real root, rlimits on CPU time,
address space, file size, open files and processes, a wall-time limit and a cap on output, and the
whole jail killed on any limit. It returns an ``Execution`` (status, stdout, stderr, ...).

``availability()`` says whether that is possible here and which mechanism does it, or why not; set
``TTS_SANDBOX=off`` to refuse running programs at all. Without a sound sandbox, ``run_program``
returns status "unavailable" and never runs the program. The threat model is in ARCHITECTURE.md
("The sandbox"). Standard library only; imports nothing above ``tts_cli.errors``.
"""

from __future__ import annotations

from tts_cli.sandbox.api import ENV_VAR, availability, run_program
from tts_cli.sandbox.limits import STATUSES, Execution, Limits

__all__ = ["ENV_VAR", "STATUSES", "Execution", "Limits", "availability", "run_program"]
