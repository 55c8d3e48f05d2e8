"""Test-only vendors: proof that a vendor is one descriptor in its own folder (see ``sources/registry.py``)."""
