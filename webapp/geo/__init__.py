"""Geography: distances and search boxes now; grids (网格) and point-in-grid lookup later."""
