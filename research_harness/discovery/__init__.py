"""Phase 2: ideation, review, refinement, flag-off verification, arms and the gate."""
