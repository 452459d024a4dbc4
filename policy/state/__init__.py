"""Customer and operator state: accounts, customer requests, the number life cycle, suspension,
and the stores.

Import public names from ``policy``; these modules are its implementation."""
