"""medcard's own web pages: the clinicians' workspace (``/app``), the family portal (``/my``), sign-in.

Server-rendered Jinja2 pages with htmx for partial updates; see docs/architecture.md ("Web layer").
"""
