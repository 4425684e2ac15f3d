"""mangacolor-colorize's library: settings, planning a job over images, folders and archives,
writing pages."""
