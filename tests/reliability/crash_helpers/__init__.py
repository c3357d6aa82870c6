"""Child-process entry points of ``tests/reliability/test_crashes.py``: each runs one provider step
the way a worker or triggerer would, so the test can SIGKILL it mid-way and run it again."""
