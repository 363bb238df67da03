"""The platform's construct library (L3 constructs). Stacks compose these and call their grants."""
