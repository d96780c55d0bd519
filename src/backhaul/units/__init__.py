"""Serial registry: every sold unit by serial number, with its sale, warranty and state."""
