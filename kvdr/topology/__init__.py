"""The topology record (primary, fencing epoch) and where it is kept."""
