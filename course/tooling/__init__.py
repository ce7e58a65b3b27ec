"""What runs the course rather than teaches it: the CLI, reproduce, bench, binder, lab."""
