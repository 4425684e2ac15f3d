"""Image files, the page datamodule, and the GPU crop/resize/Lab transforms."""
