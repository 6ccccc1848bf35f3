"""For fact-checkers: a verdict on a claimed quote (verdict.py, diff.py), quote references that
re-verify against the index and the file as they are now (refs.py), and where the language versions
of one statement differ (version_diff.py). Everything shown as a quote is still a verified slice
(bot/answer/quotes.py); these modules only compare, locate and report."""
