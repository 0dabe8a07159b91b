"""Cross-dative generalization (Misra & Kim 2024) for evalkit: novel-verb exposure learning on simulated learners."""
