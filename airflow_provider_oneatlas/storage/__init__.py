"""Where imagery is written: destinations (any ``ObjectStoragePath``), staged all-or-nothing writes, and
the S3 multipart sink."""
