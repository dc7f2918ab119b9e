"""Example source files shipped with mapc (package data: `mapc bench` runs them, the README quotes them)."""
