"""Test helpers: pages drawn on the fly, hostile files, running the console scripts."""
