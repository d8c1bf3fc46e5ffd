"""Child processes of the reliability tests (``worker.py``) and the handles the tests
hold on them (``handles.py``)."""
