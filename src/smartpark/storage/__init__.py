"""Storage: every SQL statement smartpark runs lives in this package."""
