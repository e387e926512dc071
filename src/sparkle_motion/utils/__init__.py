"""Small shared utilities (recent pHash index, rate limiter, subprocess runner)."""
