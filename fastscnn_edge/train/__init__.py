"""Training: the data pipeline with augmentation (`data`) and the loop (`loop`)."""
