"""The shell: the ``district-compliance`` command line and the demo.

The only part of ``compliance`` that may import ``flows``, ``tasks`` or ``emulator``: the library below it stays
importable without Prefect flows or the emulator (tests/test_layout.py checks it).
"""
