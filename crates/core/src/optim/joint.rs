//! Joint optimisation of X and Y towards target score pairs (placeholder, filled in next).
