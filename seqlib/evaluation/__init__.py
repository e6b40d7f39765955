"""Judging a translator: sacreBLEU scores, exposure bias by position, attention plots."""
