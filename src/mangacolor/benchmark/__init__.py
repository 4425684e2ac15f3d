"""mangacolor-bench's library: the machine, timed measurements, profiles, host syncs, the report."""
