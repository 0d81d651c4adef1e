"""Full sync: the pure planner, the copier, the report and the progress status."""
