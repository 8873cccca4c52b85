"""The people's workspace (issue 10): server-rendered pages on the GOV.UK Design System,
on the API's own rules and calls."""
