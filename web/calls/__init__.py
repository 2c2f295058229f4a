"""Call records over HTTP (通话记录): ``/api/calls``, one call, its recording."""
