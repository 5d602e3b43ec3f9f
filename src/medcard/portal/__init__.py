"""The family portal (``/my``): a parent's or a teenager's view of a child's record, on a phone.

``record.py`` reads one child's record through the access gate into plain facts for the pages;
``pages.py`` is the router (``/my/``, ``/my/children/{id}``, its documents, PDFs and the archive,
the growth charts) and ``/manifest.webmanifest``.
"""
