#!/usr/bin/env python3
"""Classic AGI entry point for routing an inbound call (the ``route_call`` route).

    exten => _X.,n,AGI(route_call.py,${CHANNEL(linkedid)})

Same handler, same channel variables, same failure policy as
``AGI(agi://127.0.0.1:4573/route_call,${CHANNEL(linkedid)})``, at the cost of one
Python process per call. Install with ``callcenter install-agi-scripts DIR`` so the
``#!`` line names the interpreter callcenter is installed in.
"""

import sys

from callcenter.agi.pyst import main

if __name__ == "__main__":
    sys.exit(main("route_call"))
