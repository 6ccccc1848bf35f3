"""One module per Slack surface; each exposes `register(app, bot)` (listed in bot/slack/app.py)."""
