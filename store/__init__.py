"""The case store: the permanent record of every case, its audit trail and the partner directory."""
