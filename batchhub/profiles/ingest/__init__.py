"""What the profile-data routes accept, in three parts: `rules` (the reference: every check, its message and the
normalised operations), `fast` (pydantic-core on the bytes of a bulk Trigger Events call, a strict subset of the
rules) and `schemas` (the bodies as the OpenAPI document shows them, built from the rules' constants)."""
