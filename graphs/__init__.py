"""Ready graphs built from nodes; each is a function returning a Graph."""
