"""Pure functions shared by the runners."""
