"""Pure rules of the procedure: calendar, steps, case and decision models. No I/O."""
