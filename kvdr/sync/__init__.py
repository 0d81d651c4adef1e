"""Full sync: the contracts, the pure planner, version-history matching and its reads, the
copier, the report and the progress status."""
