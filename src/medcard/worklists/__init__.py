"""What a clinic's staff work through: "my day" (the district's children with something due), the
inbox of results for the doctor who ordered them, and the registrar's tasks (attachment, family
accounts, the paper card).

Read models (plain dataclasses) built from the store in a fixed number of queries, each through the
request's :class:`~medcard.access.gate.Gate` (its search condition) and audited as a search is. The
pages (``web/workspace``) render them; nothing here knows of HTTP.
"""
