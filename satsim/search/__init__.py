"""The offline scheduler: the search over issue orders, tiles, chunks and stationarities."""
