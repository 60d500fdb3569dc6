"""Geography: unit grids (网格) with their import and point-in-grid lookup, distances and search boxes."""
