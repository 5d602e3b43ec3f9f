"""The clinician's workspace: the pages under ``/app`` (routes here, templates in ``web/templates/app``)."""
