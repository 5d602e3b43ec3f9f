"""The family portal's pages (``/my``): phone first, in plain Russian, through the same gate as the API."""
