"""Domain logic of the flows: no AWS or HTTP imports; adapters come in as arguments."""
