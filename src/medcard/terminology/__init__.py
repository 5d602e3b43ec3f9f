"""Reference terminologies with Russian titles: ICD-10 (МКБ-10) from the federal NSI reference."""
