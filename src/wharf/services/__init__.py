"""The use cases: async functions a surface calls, each owning its transactions and outbound calls."""
