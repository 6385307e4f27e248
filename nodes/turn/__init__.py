"""Turn-taking rules: endpointing, turn detection, turn filter, interruption, false
interruption, user state, and the active agent's turn options."""
