"""One bridge per state dir: the daemon process that editors attach to, and the relay that attaches them."""
