"""Running a trained generator: its file, padding and autocast, whole pages in tiles, comparison
grids."""
