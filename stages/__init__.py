"""The DVC stage scripts (dvc.yaml runs each as `python -m stages.<name>`): thin wrappers over the library."""
