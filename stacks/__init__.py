"""Deployable stacks. A stack only composes constructs and grants."""
