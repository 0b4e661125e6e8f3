"""The tests of stage 02: run them with `pytest` from the stage folder."""
