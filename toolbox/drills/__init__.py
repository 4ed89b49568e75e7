"""Fault drills: a real pipeline on loopback, one fault or hostile input at a time, counted
from outside (``catmatch drill``, docs/RELIABILITY.md)."""
