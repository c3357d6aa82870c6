"""Where imagery is written: destinations (any ``ObjectStoragePath``) and staged, all-or-nothing writes."""
