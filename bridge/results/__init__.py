"""Results for the care team: news of new results for open pages, critical values and their alerts."""
