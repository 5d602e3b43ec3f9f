"""Documents: PDF rendering, signing and verification, the blob store, whole-record downloads."""
