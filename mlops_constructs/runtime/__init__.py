"""Code that runs inside AWS services (not Lambda handlers), shipped by the constructs as assets."""
