"""Helpers the apps share, each module named for what it does: outbound (every request the server makes on
someone's word), sql (the hand-written statements, each with its reason), encryption (secrets at rest, and
how a secret is shown), logs (log output without phone numbers), validation (readable JSON Schema errors),
admin_inputs and widgets (the admin), processes (long-running commands)."""
