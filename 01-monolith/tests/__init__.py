"""The tests of stage 01: run them with `pytest` from the stage folder."""
