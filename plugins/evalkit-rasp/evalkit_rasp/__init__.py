"""evalkit-rasp: RASP-L length generalization (Zhou et al. 2023) as evalkit tasks.

``evalkit_rasp.rasp`` is a NumPy RASP-L interpreter, its library, reference programs and task formats;
``evalkit_rasp.plugin`` registers one evalkit task per format.
"""
