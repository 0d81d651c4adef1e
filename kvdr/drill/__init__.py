"""The DR drill, pure: checks, judgement against the objectives, the report."""
