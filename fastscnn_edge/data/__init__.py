"""Images and labels: THE preprocessing policy, Cityscapes and folder datasets, the palette,
confusion-matrix metrics and synthetic street scenes."""
