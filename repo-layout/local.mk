# Example repository and schemas ship in the distribution.
