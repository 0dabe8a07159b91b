"""Data helpers: TFDS array_record datasets built from task generators or manual directories."""

from evalkit.data.builders import dataset_name, load_examples, make_builder_class

__all__ = ["dataset_name", "load_examples", "make_builder_class"]
