"""A child's record as the clinician's workspace reads it: the chart, the timeline, what changed.

View models (plain dataclasses) built from the store in a fixed number of queries, through the
request's :class:`~medcard.access.gate.Gate`. The pages (``web/workspace``) render them; nothing
here knows of HTTP.
"""
