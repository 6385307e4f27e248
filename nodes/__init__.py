"""The node library: building blocks and provider nodes, one module per concern."""
