"""mangacolor-export's library: a trained generator written as ONNX or torch.export for use outside
this package, checked against PyTorch before it is written, with a JSON beside it that says how to
feed it and what it returns (`metadata`)."""
