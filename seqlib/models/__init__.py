"""The model families (GRU with attention, transformer), their layers, loss and metric, and the registry that chooses one."""
