"""flowagents: real-time voice AI agents as a reactive stream graph."""

__version__ = "0.1.0"
