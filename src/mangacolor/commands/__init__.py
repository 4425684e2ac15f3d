"""The console scripts: each composes its Hydra config and wires it to the library; no behaviour of
its own."""
