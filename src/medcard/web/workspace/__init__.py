"""The clinician's workspace: the pages under ``/app``."""
