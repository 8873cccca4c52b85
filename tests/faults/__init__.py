"""The fault suite (issue 11): a partner system walks cases while the worker, Temporal and the
case store fail under it; afterwards nothing may be lost, doubled, stuck or false."""
