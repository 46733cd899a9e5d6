"""Sales-call assistant: a recorded call in, a grounded report out.

The stages live one module each (``media``, ``transcribe``, ``diarize``, ``extract``,
``summarize``); ``pipeline`` is the only place that knows their order.
"""

from __future__ import annotations

__version__ = "0.1.0"

# Bumped whenever a stage changes what it produces: a job is keyed by sha256 + this.
PIPELINE_VERSION = "3"
