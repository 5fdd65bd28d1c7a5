"""The generator's version, in a module of its own: the quick-starting entry points (``core``) and the heavy
generator (``build``) both read it without importing each other."""

# Bump whenever the output changes shape or content: cached samples under var/sample are then rebuilt.
# Social media (channels, blogs, exports, alumni) and Spanish preferences and policy.
GENERATOR_VERSION = "2026.12.02-social-and-languages-1"
