"""Heuristic quality filters: language ID, Gopher, C4, FineWeb, keyword lists, text statistics.

One rule family per module; every family counts lines and words with
`operators.text.splitting`, adds its statistics as columns prefixed with the family name and
removes with reasons named `family:rule`.
"""
