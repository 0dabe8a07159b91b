"""evalkit-scylla: the Scylla generalization-vs-complexity benchmark (Qi et al., ICLR 2025) for evalkit."""
