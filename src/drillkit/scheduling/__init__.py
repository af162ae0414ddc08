"""Recurring game days: APScheduler wiring, calendars, gates and CronJob export."""
