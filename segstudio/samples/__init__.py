"""From a dataset row to what the model gets: the augmentation pipeline and its catalogue, image/target
tensors, the torch Dataset and DataLoader, drawing samples and predictions, the preview command's files."""
