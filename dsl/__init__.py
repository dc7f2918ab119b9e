"""The mapc language: grammar, parser, resolver from text to `Spec`, model zoo, units."""
