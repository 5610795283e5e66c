"""The leaderboard: submissions of per-sample predictions, checked and re-scored by us, and a
static board generated from them (nothing on it is typed by hand)."""
