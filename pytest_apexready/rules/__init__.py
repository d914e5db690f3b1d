"""Rules the checks share: pure functions from observed values to :class:`~pytest_apexready.Finding`\\ s.

They live in the package, not in the check modules, so that several checks (and the self-tests)
import them normally. No I/O here: the checks read the targets and hand the values over.
"""
