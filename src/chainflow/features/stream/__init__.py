"""Streaming indicators: O(1) update, constant memory, snapshot/restore (DESIGN.md section 4)."""
