"""A child's record in the clinician's workspace: reading it (the chart, the timeline, what changed),
finding a child (the search box, recent patients) and writing a visit (the form, its drafts, the
transaction it is saved as).

View models (plain dataclasses) and write actions over the store, through the request's
:class:`~medcard.access.gate.Gate`. The pages (``web/workspace``) render them; nothing here knows of HTTP.
"""
