"""Real datasets: annotation loaders (one module per dataset), split selection, clip cache.

The flow is ``annotations -> Segment list -> (split selection) -> frame indices ->
decoded, cropped clips -> clip cache -> CachedSplit``. Decoding source videos is slow, so
`hcvg data prepare` does it once; benchmark runs read the cache.
"""
