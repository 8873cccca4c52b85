"""The thin FastAPI layer partner systems call: validates, talks to Temporal, answers."""
