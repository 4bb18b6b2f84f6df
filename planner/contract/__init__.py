"""The Arrow data contract (shared/CONTRACT.md): schemas and reason texts, reading, validation, writing.

Nothing here imports a stage: other services' files come in through
:func:`read_table` and :func:`validate`, plans go out through
:func:`write_outputs`, and :mod:`planner.contract.arrays` turns the
normalised tables into the model's NumPy arrays.
"""
from planner.contract.read import read_table
from planner.contract.validate import Inputs, load_inputs, validate
from planner.contract.write import write_outputs

__all__ = ["Inputs", "load_inputs", "read_table", "validate", "write_outputs"]
