"""Who is calling, and what they may do: one permission resolver for every surface."""
