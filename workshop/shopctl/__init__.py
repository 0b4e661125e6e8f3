"""shopctl: run, test and load-test the stages of the workshop's shop (`python -m shopctl`)."""


class ShopctlError(Exception):
    """A failure to report to the learner in one sentence, without a traceback."""
