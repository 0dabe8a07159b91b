"""evalkit-cif-bench: CIF-Bench (Chinese instruction following) as evalkit tasks, offline proxy metrics."""
