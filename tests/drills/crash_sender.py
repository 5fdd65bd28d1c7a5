"""A sender process for the crash drill: the real outbox, which SIGKILLs itself at a chosen point.

``python tests/drills/crash_sender.py CAMPAIGN_ID PHASE N GRACE`` sends the campaign's pending mail and kills
itself (SIGKILL: no cleanup, no finally) the N-th time the outbox reaches PHASE (claimed: rows written ahead,
nothing sent; sent: Google accepted the batch, nothing recorded; recorded: the batch's outcome committed).
A kill at a named point replays the same on a quiet and on a loaded machine, where a kill on a timer does not.
"""

from __future__ import annotations

import os
import signal
import sys
from datetime import timedelta


def main() -> None:
    from compliance.google.clients import GoogleClients
    from compliance.outbox import Outbox
    from compliance.settings import get_settings
    from compliance.store import Store

    campaign_id, phase, nth, grace = int(sys.argv[1]), sys.argv[2], int(sys.argv[3]), float(sys.argv[4])
    reached = 0

    def checkpoint(name: str) -> None:
        nonlocal reached
        if name == phase:
            reached += 1
            if reached == nth:
                os.kill(os.getpid(), signal.SIGKILL)

    settings = get_settings()
    outbox = Outbox(Store(settings.database_url), GoogleClients(settings), settings,
                    in_flight_grace=timedelta(seconds=grace), checkpoint=checkpoint)
    outbox.send(campaign_id=campaign_id)
    sys.exit(3)  # the work ran out before the kill point: the drill's plan is wrong


if __name__ == "__main__":
    main()
