"""shopctl: run, test and load-test the stages of the workshop's shop (`python -m shopctl`)."""


class ShopctlError(Exception):
    """A failure to report to the learner in one sentence, without a traceback."""


# pytest's exit codes the commands read (pytest.ExitCode, without importing pytest here).
PYTEST_TESTS_FAILED = 1
PYTEST_NO_TESTS_COLLECTED = 5
