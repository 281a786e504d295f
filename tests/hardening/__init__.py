"""Attacks on the worker, as an operator, a buggy producer and someone with write access to Redis would
make them (issue 11). Each test reproduces one class of problem with real processes."""
