"""Clinical records written by people: the visit protocol (form, drafts, the transaction it is saved as)."""
