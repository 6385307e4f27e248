"""Generic stream operators as nodes (gain, map, ...), with no voice meaning."""
