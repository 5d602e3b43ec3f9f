"""Notifications to families: that something new is in a child's record, in an inbox and by e-mail.

Events come from two scans the background worker runs (:mod:`.runner`): new resources of the
kinds a family cares about (a result, a document, an access grant: :mod:`.events`) and, once a
day, the due dates of vaccinations (:mod:`.due`). Each event becomes one inbox row per family
account that may read it (the access policy decides, as for a page), and a message in the
outbox for those who want e-mail, delivered with retries (:mod:`.delivery`). A notification
names no diagnosis and no value: only that there is something new, and for which child.
"""
