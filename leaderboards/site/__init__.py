"""The static leaderboard site: tables, charts and a gallery, with nothing fetched at view time."""
