"""The finishing path: how an attempt's outcome becomes one batch of writes, whoever settles it."""
