"""The tests of stage 03: run them with `pytest` from the stage folder."""
