"""``python -m pytest_apexready.targets``: print the README's target table from the registry."""

from .registry import readme_table

print(readme_table(), end="")
