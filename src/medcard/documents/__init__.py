"""Medical documents: PDF/A rendering of the record, PAdES signing, the registry of issued documents, the
blob store the files are kept in, and whole-record downloads.

``render.render`` makes the PDF of one DocumentReference, ``book.record_book`` the whole record
of a child; both read the record through the requester's gate and sign what they issue.
``blobs`` keeps files by content hash (a directory or S3), ``binaries`` attaches them to
DocumentReferences as FHIR Binaries, ``archive`` streams a child's whole record as one ZIP.
"""
