"""Stand-ins for a telephone system, for the tests and ``callcenter demo`` only.

Nothing in the product imports this package (a test checks it); the one door is the
``callcenter demo`` / ``callcenter ami-emulator`` commands in ``callcenter/cli/simulation.py``.
"""
