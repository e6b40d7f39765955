"""Training a run: the fit loop with resume and time budget, TensorBoard monitoring, distribution strategies."""
