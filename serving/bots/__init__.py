"""Chat bots (Slack, Teams): entrances that translate identity and render answers."""
