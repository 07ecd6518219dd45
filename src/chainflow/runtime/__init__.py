"""The composition root: the table of the twelve services, the kernel and the app factory."""
