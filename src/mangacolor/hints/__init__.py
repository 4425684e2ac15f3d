"""Colour hints: dots, strokes and painted layers a user gives, and the one rasteriser that turns
them into the generator's hint channels (issue 22). A bottom room: it imports color and runtime.
"""
