"""Helpers and fixtures shared by the test folders, imported as ``support.<module>``.

pytest's ``pythonpath`` option (pyproject.toml) puts ``tests/`` on ``sys.path``; ``tests/``
itself has no ``__init__.py`` (the durable SDK wheel ships a stray top-level ``tests``
package). Modules that define fixtures are registered once in ``tests/conftest.py``.
"""
