"""Small helpers shared by the tools (timing, environment info)."""
