"""PII scrubbing: the presidio-based `pii_scrubber` operator and a regex-only display redactor."""
