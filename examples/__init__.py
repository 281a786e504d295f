"""Production-shaped examples of stalwart jobs; each folder's README walks through it step by step."""
