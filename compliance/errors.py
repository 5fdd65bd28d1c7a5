"""The one error family the whole pipeline treats alike: configuration only a person can fix.

A missing policy document, a bad profile key, a service-account key that does not load, a scope or a sharing
grant the domain has not given: retrying cannot mend any of these, and every minute spent retrying delays the
one message that says what to fix. Tasks never retry them (``tasks.guard``), flows end at once in a Failed
state carrying that message, and the CLI prints it without a traceback.
"""

from __future__ import annotations


class ConfigurationError(Exception):
    """Something in the deployment's set-up is wrong; the message names it and says the fix."""
