"""API, web interface and command line: the outermost layer; nothing imports it."""
