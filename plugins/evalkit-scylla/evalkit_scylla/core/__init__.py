"""Pure-Python core of the Scylla benchmark: task specs, prompts, instance generation, solvers,
answer parsing and level metrics (stdlib + numpy only, no evalkit imports).

Submodules: ``spec`` (the 20 tasks), ``prompts`` (exact prompt strings), ``formats`` (input strings),
``generate`` (seeded ID/OOD instances; per-task draws in ``draws``), ``solve`` (brute-force gold, verifiers, paper comparison),
``parse`` (paper and strict answer parsers), ``levels`` (accuracies, gap, S, critical complexity).
Helpers: ``seeding`` (stable per-item RNG keys, value pools), ``combos`` (cached index combinations),
``tsp`` (Held-Karp with optimal-tour counts), ``residues`` (mod-10 sampler for the MultipleTen tasks).
"""
