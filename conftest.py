# Root conftest: the checks' shared helpers live in the plugin (pytest_apexready);
# this file only keeps the sandbox package importable from the suites.
