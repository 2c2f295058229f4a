"""A unit's own directory entry (单位联络人): its lead and A/B liaisons (AB角), read and kept
by the unit itself; the reminder calls of supervision dial them."""
