"""Every side effect of a case: the calendar look-up, case events (later the store and e-mail)."""
