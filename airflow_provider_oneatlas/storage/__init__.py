"""Where downloads land: object-storage helpers of the operators."""
