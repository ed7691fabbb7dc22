"""The package's one exception type.

Every error that a user can cause (a bad file, a bad value, a missing array)
is raised as :class:`EmocircError` with a message that names the file or
value and says what was expected.  The command line prints that message on
one line and exits non-zero.
"""

from __future__ import annotations


class EmocircError(Exception):
    """A user-facing error: the message names the bad input and what was expected.

    Examples
    --------
    >>> try:
    ...     raise EmocircError("corpus.csv: expected a 'label' column")
    ... except EmocircError as err:
    ...     print(err)
    corpus.csv: expected a 'label' column
    """
