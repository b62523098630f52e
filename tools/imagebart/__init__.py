"""ImageBART Studio's Python side: the PyTorch twin of the official model, the model-file writer/reader,
the checkpoint converter and the reference sampler.

The twin exists so that the C engine can be checked against something that follows the official code
line by line; it is not used by the application itself.
"""
