"""What every command needs at run time: atomic files, checkpoint IO, devices, ranks, run folders,
seeds, bundled paths, config errors."""
