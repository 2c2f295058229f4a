"""Call-centre figures (话务报表) over HTTP: ``/api/call-figures/day|month|intervals``."""
