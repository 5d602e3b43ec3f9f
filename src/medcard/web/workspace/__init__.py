"""The clinician's workspace pages (``/app``)."""
