"""A node's link to HQ: the replicator (push our log, pull HQ's feed), the feed's
appliers, the HTTP client to HQ (which online holds use too), enrollment, and the
backlog drain's progress."""
