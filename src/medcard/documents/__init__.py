"""Medical documents: PDF/A rendering of the record, PAdES signing, the registry of issued documents.

``render.render`` makes the PDF of one DocumentReference, ``book.record_book`` the whole record
of a child; both read the record through the requester's gate and sign what they issue.
"""
