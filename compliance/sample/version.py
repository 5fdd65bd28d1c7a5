"""The generator's version, in a module of its own: the quick-starting entry points (``core``) and the heavy
generator (``build``) both read it without importing each other."""

# Bump whenever the output changes shape or content: cached samples under var/sample are then rebuilt.
# A website for every LAUSD-scale school (about 100 photos each).
GENERATOR_VERSION = "2026.12.03-lausd-websites-1"
