"""Green evaluation: indicator sets as data, energy and carbon accounts, index, reports."""
