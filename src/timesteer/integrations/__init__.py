"""Bridges to other people's driving stacks. Each imports nothing of the stack it serves."""
