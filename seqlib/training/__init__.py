"""Training a run: train.py takes a run through its steps (resume, datasets, callbacks,
checkpoints, the lock, the time budget), monitor.py adds to TensorBoard, distribute.py
chooses the strategy."""
