"""The cluster: the node registry (Redis), the ring of active nodes (its version and
members kept in the database), placement of users on nodes, and resizing."""
