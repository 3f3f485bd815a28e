#!/usr/bin/env python3
"""Classic AGI entry point for any callcenter route: the first argument names it.

    exten => s,n,AGI(callcenter_agi.py,route_call,${CHANNEL(linkedid)})

runs the same handler as ``AGI(agi://127.0.0.1:4573/route_call,${CHANNEL(linkedid)})``
(the handler sees the arguments after the route name). One Python process per call:
prefer FastAGI unless a site cannot run the server. The interpreter must be the one
callcenter is installed in: ``callcenter install-agi-scripts /var/lib/asterisk/agi-bin``
copies these files with the right ``#!`` line.
"""

import sys

from callcenter.agi.pyst import main

if __name__ == "__main__":
    sys.exit(main())
